import hashlib
import json

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import NewestFirstCursorPagination, StandardPagination, with_errors

from .drafts import order_draft_place, order_draft_save
from .errors import OrderNotFound
from .filters import OrderFilter
from .idempotency import idempotent
from .models import Order, OrderDraft, Payment
from .selectors import order_detail, order_list
from .serializers import (
    NoteSerializer,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderDraftSerializer,
    OrderDraftWriteSerializer,
    OrderEventSerializer,
    OrderLinesEditSerializer,
    OrderListSerializer,
    PaymentCreateSerializer,
    PaymentSerializer,
    TransitionSerializer,
    order_create_data,
    order_detail_data,
)
from .services import (
    order_add_note,
    order_edit_lines,
    order_place,
    order_record_payment,
    order_transition,
    transition_names,
)


def _fingerprint(data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _detail(number: str, viewer) -> dict:
    return order_detail_data(order_detail(number=number, user=viewer), viewer=viewer)


class OrderPagination(NewestFirstCursorPagination):
    ordering = ("-placed_at", "-id")


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="Retry-safe creation: the same key and body get the first answer again (with `Idempotent-Replayed: "
                "true`); another body gets 422.",
)


class OrderListCreateApi(generics.ListAPIView):
    """Staff see every order (with filters); a customer sees their own. Anyone signed in may place an order."""

    serializer_class = OrderListSerializer
    filterset_class = OrderFilter
    pagination_class = OrderPagination
    queryset = Order.objects.none()  # tells the schema generator the model; get_queryset() scopes to the user

    def get_queryset(self):
        return order_list(user=self.request.user)

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderDetailSerializer},
                   parameters=[IDEMPOTENCY_HEADER])
    def post(self, request):
        data = order_create_data(request.data)
        user = request.user
        if user.is_staff:
            if not user.has_perm("orders.add_order"):
                raise PermissionDenied("You may not place orders for customers.")
            customer = None
            if "customer" in data:
                customer = get_user_model().objects.filter(pk=data["customer"]).first()
                if customer is None:
                    raise ValidationError({"customer": [f"No customer with id {data['customer']}."]})
            email = data.get("email") or (customer.email if customer else "")
            if not email:
                raise ValidationError({"email": ["Give the customer's email (a guest order needs one)."]})
        else:
            if "customer" in data:
                raise ValidationError({"customer": ["Customers place orders for themselves only."]})
            customer = user
            email = user.email
            if not email:
                raise ValidationError({"email": ["Your account has no email address: add one before ordering."]})
            if data.get("email") and data["email"].casefold() != email.casefold():
                # The shop writes to the contact email: a customer's orders go to their own address only.
                raise ValidationError({"email": [f"Your orders use your account's email ({email}); change it in "
                                                 "your account, or leave this out."]})

        def respond(order):
            # A new order carries its lines, allocations and first timeline entry from the service: no read-back.
            return Response(order_detail_data(order, viewer=user), status=status.HTTP_201_CREATED)

        def run(kept):
            if kept is not None:
                kept.respond = respond
            order, _ = order_place(
                customer=customer, email=email, phone=data["phone"],
                shipping_address=dict(data["shipping_address"]), lines=[dict(line) for line in data["lines"]],
                currency=data.get("currency"),
                shipping_total=data.get("shipping_total") if user.is_staff else None,
                expected_shipping_total=None if user.is_staff else data.get("shipping_total"), notes=data["notes"],
                actor=user, answer=kept, keep_related=True,
            )
            return kept.response if kept is not None else respond(order)

        # The request's Idempotency-Key is claimed by the placement's first statement and its answer kept in the
        # same transaction; a retry gets the first answer again, as it was, with Idempotent-Replayed: true.
        return idempotent(request, run, claimed_by_run=True, reused_extra=lambda first: {"order": first.get("number")})


class OrderDetailApi(APIView):
    @extend_schema(responses=OrderDetailSerializer)
    def get(self, request, number: str):
        return Response(_detail(number, request.user))


def _staff_order(request, number: str) -> str:
    """The order's number if the user may change it: 404 when they cannot see it, 403 when they only see it."""
    if not order_list(user=request.user).filter(number=number).exists():
        raise OrderNotFound(f"No order {number}.", number=number)
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can change orders.")
    return number


class OrderTransitionApi(APIView):
    @extend_schema(request=TransitionSerializer, responses=OrderDetailSerializer,
                   description=f"Transition names: {', '.join(transition_names())}.")
    def post(self, request, number: str, name: str):
        _staff_order(request, number)
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order_transition(order=number, name=name, actor=request.user, reason=serializer.validated_data["reason"])
        return Response(_detail(number, request.user))


class OrderNoteApi(APIView):
    @extend_schema(request=NoteSerializer, responses={201: OrderEventSerializer})
    def post(self, request, number: str):
        _staff_order(request, number)
        if not request.user.has_perm("orders.add_internal_note"):
            raise PermissionDenied("You may not add notes to orders.")
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = order_add_note(order=number, author=request.user, text=serializer.validated_data["text"],
                               internal=serializer.validated_data["internal"])
        return Response(OrderEventSerializer(event, context={"viewer": request.user}).data,
                        status=status.HTTP_201_CREATED)


class OrderLinesEditApi(APIView):
    @extend_schema(request=OrderLinesEditSerializer, responses=with_errors({200: OrderDetailSerializer}),
                   parameters=[IDEMPOTENCY_HEADER],
                   description="Change an order's items until they are picked: each change is a SKU and its new "
                               "quantity (0 removes it, a new SKU adds it). Stock and totals follow; the customer is "
                               "told. On a paid order the difference becomes `balance_due` (partially paid) or "
                               "`refund_due`.")
    def post(self, request, number: str):
        _staff_order(request, number)
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied("You may not change orders.")
        serializer = OrderLinesEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def run():
            order_edit_lines(order=number, changes=[dict(c) for c in data["changes"]], actor=request.user,
                             reason=data["reason"])
            return Response(_detail(number, request.user))

        return idempotent(request, run)


class OrderPaymentApi(APIView):
    """The payments received for an order (staff), and recording one: a storefront's payment provider reports a
    capture, staff a bank transfer or cash. The provider's reference counts once per order."""

    @extend_schema(responses=with_errors({200: PaymentSerializer(many=True)}))
    def get(self, request, number: str):
        _staff_order(request, number)
        payments = (Payment.objects.filter(order__number=number).select_related("recorded_by")
                    .order_by("created_at", "id"))
        return Response(PaymentSerializer(payments, many=True).data)

    @extend_schema(request=PaymentCreateSerializer, responses=with_errors({201: OrderDetailSerializer}),
                   parameters=[IDEMPOTENCY_HEADER],
                   description="Record money received. The payment status follows: partially paid while a balance is "
                               "due, paid when it is all there. The same reference with the same amount is answered "
                               "as recorded already; with another amount it is a 409.")
    def post(self, request, number: str):
        _staff_order(request, number)
        if not request.user.has_perm("orders.record_payment"):
            raise PermissionDenied("You may not record payments.")
        serializer = PaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def run():
            order_record_payment(order=number, actor=request.user, **data)
            return Response(_detail(number, request.user), status=status.HTTP_201_CREATED)

        return idempotent(request, run)


def _draft_data(validated: dict) -> dict:
    data = dict(validated)
    data["shipping_address"] = dict(data.get("shipping_address") or {})
    data["lines"] = [dict(line) for line in data.get("lines") or []]
    data["shipping_total"] = None if data.get("shipping_total") is None else str(data["shipping_total"])
    return data


class OrderDraftApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Draft orders for staff (phone orders being put together): saved as they are, placed when ready."""

    serializer_class = OrderDraftSerializer
    pagination_class = StandardPagination
    queryset = OrderDraft.objects.select_related("placed_order").order_by("-created_at", "-id")

    def get_queryset(self):
        if not (self.request.user.is_staff and self.request.user.has_perm("orders.add_order")):
            raise PermissionDenied("Only staff who place orders keep drafts.")
        return super().get_queryset()

    @extend_schema(request=OrderDraftWriteSerializer, responses=with_errors({201: OrderDraftSerializer}),
                   parameters=[IDEMPOTENCY_HEADER])
    def create(self, request):
        self.get_queryset()
        serializer = OrderDraftWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return idempotent(request, lambda: Response(OrderDraftSerializer(order_draft_save(
            data=_draft_data(serializer.validated_data), actor=request.user)).data, status=status.HTTP_201_CREATED))

    @extend_schema(request=OrderDraftWriteSerializer, responses=with_errors({200: OrderDraftSerializer}),
                   parameters=[IDEMPOTENCY_HEADER])
    def update(self, request, pk=None):
        draft = self.get_object()
        serializer = OrderDraftWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return idempotent(request, lambda: Response(OrderDraftSerializer(order_draft_save(
            data=_draft_data(serializer.validated_data), actor=request.user, draft=draft)).data))

    @extend_schema(request=None, responses=with_errors({201: OrderDetailSerializer}), parameters=[IDEMPOTENCY_HEADER],
                   description="Place the draft through the usual order placement (prices, stock, timeline).")
    @action(detail=True, methods=["post"])
    def place(self, request, pk=None):
        draft = self.get_object()

        def run():
            order = order_draft_place(draft=draft, actor=request.user)
            return Response(_detail(order.number, request.user), status=status.HTTP_201_CREATED)

        return idempotent(request, run)
