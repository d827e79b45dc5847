import secrets

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import NewestFirstCursorPagination, with_errors
from config.parsers import parse_json
from inventory.models import Warehouse

from .carriers import signature_valid
from .errors import BadSignature, InvalidShipment, MalformedEvent
from .filters import ShipmentFilter
from .models import Carrier, Shipment
from .selectors import shipment_detail, shipment_list
from .serializers import (
    CarrierEventResultSerializer,
    CarrierEventSerializer,
    ShipmentCreateSerializer,
    ShipmentDetailSerializer,
    ShipmentListSerializer,
    ShipmentTransitionSerializer,
)
from .services import shipment_create, shipment_record_carrier_event, shipment_transition, transition_names

SIGNATURE_HEADER = "X-Waybill-Signature"
_NO_CARRIER_SECRET = secrets.token_hex(32)  # signs nothing: an unknown carrier's check fails like a wrong one


def _detail(shipment, request) -> dict:
    return ShipmentDetailSerializer(shipment, context={"staff": request.user.is_staff}).data


class ShipmentPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


def _require(request, perm: str, message: str) -> None:
    if not (request.user.is_staff and request.user.has_perm(perm)):
        raise PermissionDenied(message)


class ShipmentListCreateApi(generics.ListAPIView):
    """Staff see every shipment (with filters); a customer sees the shipments of their own orders."""

    serializer_class = ShipmentListSerializer
    filterset_class = ShipmentFilter
    pagination_class = ShipmentPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Shipment.objects.none()
        return shipment_list(user=self.request.user)

    @extend_schema(request=ShipmentCreateSerializer, responses={201: ShipmentDetailSerializer})
    def post(self, request):
        _require(request, "shipping.add_shipment", "You may not create shipments.")
        serializer = ShipmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        warehouse = Warehouse.objects.filter(code=data["warehouse"]).first()
        if warehouse is None:
            raise InvalidShipment(f"No warehouse {data['warehouse']}.",
                                  fields={"warehouse": [f"No warehouse {data['warehouse']}."]})
        shipment = shipment_create(order=data["order"], warehouse=warehouse, carrier=data["carrier"] or None,
                                   items=[(line["line"], line["quantity"]) for line in data["lines"]],
                                   actor=request.user)
        detail = shipment_detail(pk=shipment.pk, user=request.user)
        return Response(_detail(detail, request), status=status.HTTP_201_CREATED)


class ShipmentDetailApi(APIView):
    @extend_schema(responses=ShipmentDetailSerializer)
    def get(self, request, pk: int):
        return Response(_detail(shipment_detail(pk=pk, user=request.user), request))


class ShipmentTransitionApi(APIView):
    @extend_schema(request=ShipmentTransitionSerializer, responses=ShipmentDetailSerializer,
                   description=f"Transition names: {', '.join(transition_names())}.")
    def post(self, request, pk: int, name: str):
        shipment = shipment_detail(pk=pk, user=request.user)  # 404 for shipments the user cannot see
        _require(request, "shipping.change_shipment", "Only warehouse staff can move shipments.")
        serializer = ShipmentTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        shipment_transition(shipment=shipment.pk, name=name, actor=request.user, reason=data["reason"],
                            carrier=data["carrier"] or None, tracking_number=data["tracking_number"],
                            exception_reason=data["exception_reason"],
                            serials={row["line"]: row["serials"] for row in data["serials"]})
        return Response(_detail(shipment_detail(pk=pk, user=request.user), request))


class CarrierEventApi(APIView):
    """A carrier pushes one tracking event, signed with HMAC-SHA256 of the raw body and the carrier's secret.

    Header `X-Waybill-Signature: sha256=<hex digest>`. The signature is checked before anything else: an unknown
    carrier code gets the same 401 as a wrong signature, so the endpoint does not tell who our carriers are. The
    answer says whether the event moved the parcel (`changed`) and why not (`detail`); a repeated event id is
    accepted and changes nothing.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=CarrierEventSerializer,
                   responses=with_errors({200: CarrierEventResultSerializer, 201: CarrierEventResultSerializer},
                                         400, 401, 404, 409),
                   parameters=[OpenApiParameter(SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True)],
                   auth=[])
    def post(self, request, code: str):
        carrier = Carrier.objects.filter(code=code, active=True).first()
        body = request.body
        # the same HMAC work whether the carrier exists or not: neither the answer nor its timing tells
        secret = carrier.webhook_secret if carrier is not None else _NO_CARRIER_SECRET
        if not signature_valid(secret, body, request.headers.get(SIGNATURE_HEADER, "")) or carrier is None:
            raise BadSignature(f"Missing or wrong {SIGNATURE_HEADER} header.")
        try:
            payload = parse_json(body)
        except ParseError as exc:
            raise MalformedEvent(f"The body is not valid JSON ({exc.detail}).") from None
        if not isinstance(payload, dict):
            raise MalformedEvent("The body must be one JSON object (one event).")
        serializer = CarrierEventSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = shipment_record_carrier_event(
            carrier=carrier, tracking_number=data["tracking_number"], event_id=data["event_id"],
            status_code=data["status_code"], occurred_at=data["occurred_at"], location=data["location"],
            description=data["description"],
        )
        body = {"tracking_number": result.shipment.tracking_number, "status": result.shipment.status,
                "duplicate": not result.created, "changed": result.changed, "detail": result.detail}
        return Response(CarrierEventResultSerializer(body).data,
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
