import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import StaffModelPermissions, StandardPagination, with_errors
from config.filters import FilterSet, IsoDateTimeFilter
from config.idempotency import idempotent

from .errors import UnitNotFound
from .models import GoodsReceipt, GoodsReceiptLine, Product, StockLevel, StockMovement, Warehouse
from .selectors import product_list, stock_level_list, stock_movement_list, unit_history
from .serializers import (
    BinSerializer,
    GoodsReceiptCreateSerializer,
    GoodsReceiptSerializer,
    ProductSerializer,
    SerialLookupSerializer,
    StockAdjustSerializer,
    StockLevelSerializer,
    StockMovementSerializer,
    StockReceiveSerializer,
    StockTransferSerializer,
    WarehouseSerializer,
)
from .services import goods_receipt_create, stock_adjust, stock_level_set_bin, stock_receive, stock_transfer


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

    def perform_create(self, serializer):
        self._check_catalogue(list(serializer.validated_data))
        serializer.save()

    def perform_update(self, serializer):
        instance = serializer.instance
        changed = [f for f, value in serializer.validated_data.items() if getattr(instance, f) != value]
        self._check_catalogue(changed)
        serializer.save()

    def _check_catalogue(self, fields: list[str]) -> None:
        catalogue = [f for f in fields if f in Product.CATALOGUE_FIELDS]
        if catalogue and not self.request.user.has_perm("inventory.manage_catalogue"):
            raise PermissionDenied(f"Changing {', '.join(catalogue)} needs the catalogue permission "
                                   "(inventory.manage_catalogue); the warehouse role changes stock alerts and "
                                   "serial numbers only.")


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


class StockBinApi(APIView):
    @extend_schema(request=BinSerializer, responses=with_errors({200: StockLevelSerializer}),
                   description="Where a product sits in a warehouse (pick lists walk the bins in order). Only the bin "
                               "is written, never the quantities.")
    def post(self, request, pk: int):
        if not (request.user.is_staff and request.user.has_perm("inventory.change_stocklevel")):
            raise PermissionDenied("You may not change stock levels.")
        level = stock_level_list().filter(pk=pk).first()
        if level is None:
            raise NotFound(f"No stock level {pk}.")
        serializer = BinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def run():
            stock_level_set_bin(stock_level=level.pk, bin=serializer.validated_data["bin"])
            return Response(StockLevelSerializer(stock_level_list().get(pk=level.pk)).data)

        return idempotent(request, run)


class WarehouseApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Warehouses for staff: stock is allocated from active ones in priority order (1 = first choice). They are
    deactivated, never deleted: the ledger refers to them."""

    serializer_class = WarehouseSerializer
    permission_classes = [StaffModelPermissions]
    pagination_class = StandardPagination
    lookup_field = "code"
    queryset = Warehouse.objects.order_by("priority", "code")

    @extend_schema(parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)])
    def create(self, request, *args, **kwargs):
        return idempotent(request, lambda: super(WarehouseApi, self).create(request, *args, **kwargs))

    @extend_schema(parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)])
    def update(self, request, *args, **kwargs):
        return idempotent(request, lambda: super(WarehouseApi, self).update(request, *args, **kwargs))


class GoodsReceiptApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Supplier deliveries booked in, a quantity (and serials) per line, newest first."""

    serializer_class = GoodsReceiptSerializer
    permission_classes = [StaffModelPermissions]
    pagination_class = StandardPagination
    queryset = GoodsReceipt.objects.select_related("warehouse").prefetch_related(
        Prefetch("lines", queryset=GoodsReceiptLine.objects.select_related("product").order_by("pk")))

    @extend_schema(request=GoodsReceiptCreateSerializer, responses=with_errors({201: GoodsReceiptSerializer}),
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)])
    def create(self, request):
        serializer = GoodsReceiptCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def run():
            receipt = goods_receipt_create(
                warehouse=data["warehouse"], supplier=data["supplier"], reference=data["reference"],
                note=data["note"], actor=request.user,
                lines=[{"sku": line["sku"], "quantity": line["quantity"], "serials": line.get("serials", [])}
                       for line in data["lines"]])
            return Response(GoodsReceiptSerializer(self.get_queryset().get(pk=receipt.pk)).data,
                            status=status.HTTP_201_CREATED)

        return idempotent(request, run)
