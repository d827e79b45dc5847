import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import StaffModelPermissions, StandardPagination
from config.filters import FilterSet, IsoDateTimeFilter

from .errors import UnitNotFound
from .models import Product, StockLevel, StockMovement
from .selectors import product_list, stock_level_list, stock_movement_list, unit_history
from .serializers import (
    ProductSerializer,
    SerialLookupSerializer,
    StockAdjustSerializer,
    StockLevelSerializer,
    StockMovementSerializer,
    StockReceiveSerializer,
    StockTransferSerializer,
)
from .services import stock_adjust, stock_receive, stock_transfer


class ProductFilter(FilterSet):
    sku = django_filters.CharFilter(lookup_expr="iexact")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Product
        fields = ["sku", "active", "serial_tracked"]


class ProductApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                 mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Catalogue for staff. Products are deactivated, never deleted: orders and the ledger refer to them."""

    serializer_class = ProductSerializer
    permission_classes = [StaffModelPermissions]
    pagination_class = StandardPagination
    filterset_class = ProductFilter
    lookup_field = "sku"

    def get_queryset(self):
        return product_list()


class StockLevelFilter(FilterSet):
    sku = django_filters.CharFilter(field_name="product__sku", lookup_expr="iexact")
    warehouse = django_filters.CharFilter(field_name="warehouse__code", lookup_expr="iexact")

    class Meta:
        model = StockLevel
        fields = ["sku", "warehouse"]


class StockApi(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Stock levels per product and warehouse; receive, adjust and transfer go through the ledger."""

    serializer_class = StockLevelSerializer
    permission_classes = [StaffModelPermissions]
    pagination_class = StandardPagination
    filterset_class = StockLevelFilter
    queryset = StockLevel.objects.none()  # for the permission class's model lookup

    def get_queryset(self):
        return stock_level_list().order_by("product__sku", "warehouse__priority")

    def _level_response(self, level, code=status.HTTP_200_OK):
        return Response(StockLevelSerializer(stock_level_list().get(pk=level.pk)).data, status=code)

    def _check_change(self, request):
        if not request.user.has_perm("inventory.change_stocklevel"):
            self.permission_denied(request, message="You may not change stock.")

    @extend_schema(request=StockReceiveSerializer, responses=StockLevelSerializer)
    @action(detail=False, methods=["post"])
    def receive(self, request):
        self._check_change(request)
        s = StockReceiveSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        level = stock_receive(actor=request.user, **s.validated_data)
        return self._level_response(level)

    @extend_schema(request=StockAdjustSerializer, responses=StockLevelSerializer)
    @action(detail=False, methods=["post"])
    def adjust(self, request):
        self._check_change(request)
        s = StockAdjustSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        level = stock_adjust(actor=request.user, **s.validated_data)
        return self._level_response(level)

    @extend_schema(request=StockTransferSerializer, responses=StockLevelSerializer(many=True))
    @action(detail=False, methods=["post"])
    def transfer(self, request):
        self._check_change(request)
        s = StockTransferSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        out, into = stock_transfer(actor=request.user, **s.validated_data)
        levels = stock_level_list().filter(pk__in=[out.pk, into.pk]).order_by("warehouse__priority")
        return Response(StockLevelSerializer(levels, many=True).data)


class StockMovementFilter(FilterSet):
    sku = django_filters.CharFilter(field_name="product__sku", lookup_expr="iexact")
    warehouse = django_filters.CharFilter(field_name="warehouse__code", lookup_expr="iexact")
    after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = StockMovement
        fields = ["sku", "warehouse", "kind", "after"]


class StockMovementApi(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = StockMovementSerializer
    permission_classes = [StaffModelPermissions]
    pagination_class = StandardPagination
    filterset_class = StockMovementFilter
    queryset = StockMovement.objects.none()

    def get_queryset(self):
        return stock_movement_list()


class SerialLookupApi(APIView):
    """Staff: every unit with this serial number (one per product that has it) and its whole history: received,
    packed and shipped in which shipment to which order, returned, inspected, restocked or scrapped."""

    @extend_schema(responses=SerialLookupSerializer)
    def get(self, request, serial: str):
        if not (request.user.is_staff and request.user.has_perm("inventory.view_unit")):
            raise PermissionDenied("Only staff may look up serial numbers.")
        history = list(unit_history(serial=serial))
        if not history:
            raise UnitNotFound(f"No unit with serial number {serial} has been recorded.", serial=serial)
        by_unit: dict[int, list] = {}
        for event in history:
            by_unit.setdefault(event.unit_id, []).append(event)
        units = []
        for events in by_unit.values():
            unit = events[0].unit
            unit.history = events
            units.append(unit)
        return Response(SerialLookupSerializer({"serial": units[0].serial, "units": units}).data)
