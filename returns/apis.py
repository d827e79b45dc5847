"""The returns API: customers create returns for their own delivered orders and follow them; staff list, decide,
inspect and refund. Every write takes an Idempotency-Key (orders.idempotency)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import NewestFirstCursorPagination, with_errors
from config.parsers import SafeFormParser, SafeMultiPartParser
from inventory.models import Warehouse
from orders.errors import OrderNotFound
from orders.idempotency import idempotent
from orders.selectors import order_list

from .errors import InvalidReturn, ReturnNotFound
from .filters import ReturnFilter
from .models import ReturnRequest
from .selectors import return_detail, return_list
from .serializers import (
    InspectionSerializer,
    PhotoUploadSerializer,
    RefundCreateSerializer,
    RefundSerializer,
    ReturnCreateSerializer,
    ReturnDetailSerializer,
    ReturnListSerializer,
    ReturnTransitionSerializer,
)
from .services import (
    refund_issue,
    return_add_photo,
    return_approve,
    return_cancel,
    return_close,
    return_create,
    return_inspect,
    return_receive,
    return_reject,
    return_resolve,
)

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="Retry-safe: the same key and request get the first answer again; another request with the same "
                "key gets 422.",
)
TRANSITIONS = ["approve", "reject", "receive", "resolve", "close", "cancel"]


def _staff(user) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def _body(number: str, request, code=status.HTTP_200_OK) -> Response:
    rr = return_detail(number=number, user=request.user)
    staff = _staff(request.user) and request.user.has_perm("returns.view_returnrequest")
    data = ReturnDetailSerializer(rr, context={"staff": staff, "viewer": request.user}).data
    return Response(data, status=code)


def _warehouse(code: str):
    if not code:
        return None
    found = Warehouse.objects.filter(code=code).first()
    if found is None:
        raise InvalidReturn(f"No warehouse {code}.", fields={"warehouse": [f"No warehouse {code}."]})
    return found


class ReturnPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class ReturnListCreateApi(generics.ListAPIView):
    """Staff with the permission see every return (with filters); a customer sees their own."""

    serializer_class = ReturnListSerializer
    filterset_class = ReturnFilter
    pagination_class = ReturnPagination
    queryset = ReturnRequest.objects.none()

    def get_queryset(self):
        return return_list(user=self.request.user)

    @extend_schema(request=ReturnCreateSerializer, responses=with_errors({201: ReturnDetailSerializer}),
                   parameters=[IDEMPOTENCY])
    def post(self, request):
        serializer = ReturnCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user
        # a customer returns only their own orders; anyone else's is a 404, as if it did not exist
        if not order_list(user=user).filter(number=data["order"]).exists():
            raise OrderNotFound(f"No order {data['order']}.", number=data["order"])
        if _staff(user) and not user.has_perm("returns.add_returnrequest"):
            raise PermissionDenied("You may not create returns.")

        def run():
            rr = return_create(order=data["order"], lines=[dict(line) for line in data["lines"]],
                               resolution=data["resolution"], channel=ReturnRequest.Channel.API, actor=user,
                               customer_note=data["customer_note"], exchange_sku=data["exchange_sku"])
            return _body(rr.number, request, status.HTTP_201_CREATED)

        return idempotent(request, run)


class ReturnDetailApi(APIView):
    @extend_schema(responses=with_errors(ReturnDetailSerializer))
    def get(self, request, number: str):
        return _body(number, request)


def _visible(request, number: str) -> ReturnRequest:
    return return_detail(number=number, user=request.user)  # 404 for a return the user may not see


class ReturnTransitionApi(APIView):
    @extend_schema(request=ReturnTransitionSerializer,
                   responses=with_errors(ReturnDetailSerializer), parameters=[IDEMPOTENCY],
                   description=f"Steps: {', '.join(TRANSITIONS)}. A customer may cancel their own open return.")
    def post(self, request, number: str, name: str):
        rr = _visible(request, number)
        if name not in TRANSITIONS:
            raise ReturnNotFound(f"There is no step called {name!r}.", transition=name, allowed=TRANSITIONS)
        customer_cancel = not _staff(request.user) and name == "cancel"
        if not _staff(request.user) and not customer_cancel:
            raise PermissionDenied("Only staff take this step.")
        serializer = ReturnTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {"return_request": rr.number, "actor": request.user}

        def run():
            if name == "approve":
                return_approve(**common, handling=data["handling"], instructions=data["instructions"],
                               carrier=data["carrier"] or None, tracking_number=data["tracking_number"],
                               warehouse=_warehouse(data["warehouse"]), send_label=data["send_label"])
            elif name == "reject":
                return_reject(**common, reason=data["reason"])
            elif name == "receive":
                return_receive(**common, note=data["note"])
            elif name == "resolve":
                return_resolve(**common, refund_amount=data["refund_amount"], refund_shipping=data["refund_shipping"],
                               provider_reference=data["provider_reference"], note=data["note"])
            elif name == "close":
                return_close(**common)
            else:
                return_cancel(**common, reason=data["reason"] or ("Withdrawn by the customer" if customer_cancel
                                                                   else ""), check_permission=not customer_cancel)
            return _body(rr.number, request)

        return idempotent(request, run)


class ReturnInspectionApi(APIView):
    @extend_schema(request=InspectionSerializer,
                   responses=with_errors(ReturnDetailSerializer), parameters=[IDEMPOTENCY])
    def post(self, request, number: str):
        rr = _visible(request, number)
        if not _staff(request.user):
            raise PermissionDenied("Only staff inspect returns.")
        serializer = InspectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lines = serializer.validated_data["lines"]

        def run():
            inspections = [{**line, "warehouse": getattr(_warehouse(line["warehouse"]), "pk", None)} for line in lines]
            return_inspect(return_request=rr.number, inspections=inspections, actor=request.user)
            return _body(rr.number, request)

        return idempotent(request, run)


class ReturnRefundApi(APIView):
    @extend_schema(request=RefundCreateSerializer,
                   responses=with_errors({201: RefundSerializer}), parameters=[IDEMPOTENCY],
                   description="A refund for this return beyond its resolution (a goodwill gesture, shipping).")
    def post(self, request, number: str):
        rr = _visible(request, number)
        if not _staff(request.user):
            raise PermissionDenied("Only staff issue refunds.")
        return _refund(request, order=rr.order.number, return_request=rr.number)


class OrderRefundApi(APIView):
    @extend_schema(request=RefundCreateSerializer,
                   responses=with_errors({201: RefundSerializer}), parameters=[IDEMPOTENCY],
                   description="A refund on an order without a return: a parcel that came back to us, a gesture.")
    def post(self, request, number: str):
        if not order_list(user=request.user).filter(number=number).exists():
            raise OrderNotFound(f"No order {number}.", number=number)
        if not _staff(request.user):
            raise PermissionDenied("Only staff issue refunds.")
        return _refund(request, order=number, return_request=None)


def _refund(request, *, order: str, return_request: str | None) -> Response:
    serializer = RefundCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data

    def run():
        refund, _ = refund_issue(order=order, return_request=return_request, items_amount=data["items_amount"],
                                 shipping_amount=data["shipping_amount"], reason=data["reason"],
                                 provider_reference=data["provider_reference"], actor=request.user)
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)

    return idempotent(request, run)


class ReturnPhotoApi(APIView):
    parser_classes = [SafeMultiPartParser, SafeFormParser]

    @extend_schema(request={"multipart/form-data": PhotoUploadSerializer},
                   responses=with_errors(ReturnDetailSerializer),
                   parameters=[IDEMPOTENCY])
    def post(self, request, number: str):
        rr = _visible(request, number)
        serializer = PhotoUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        line_id = serializer.validated_data["line"]
        if not rr.lines.filter(pk=line_id).exists():
            raise InvalidReturn(f"Return {rr.number} has no line {line_id}.", fields={"line": ["Unknown line."]})

        def run():
            return_add_photo(line=line_id, upload=serializer.validated_data["photo"], actor=request.user)
            return _body(rr.number, request, status.HTTP_201_CREATED)

        return idempotent(request, run)
