import json

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import NewestFirstCursorPagination
from inventory.models import Warehouse

from .carriers import signature_valid
from .errors import BadSignature, CarrierNotFound, InvalidShipment, MalformedEvent
from .filters import ShipmentFilter
from .models import Carrier, Shipment
from .selectors import shipment_detail, shipment_list
from .serializers import (
    CarrierEventSerializer,
    ShipmentCreateSerializer,
    ShipmentDetailSerializer,
    ShipmentListSerializer,
    ShipmentTransitionSerializer,
)
from .services import shipment_create, shipment_record_carrier_event, shipment_transition, transition_names

SIGNATURE_HEADER = "X-Waybill-Signature"


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

    Header `X-Waybill-Signature: sha256=<hex digest>`. A repeated event id is accepted and changes nothing.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=CarrierEventSerializer, responses={200: None, 201: None},
                   parameters=[OpenApiParameter(SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True)])
    def post(self, request, code: str):
        carrier = Carrier.objects.filter(code=code, active=True).first()
        if carrier is None:
            raise CarrierNotFound(f"No carrier {code}.", carrier=code)
        body = request.body
        if not signature_valid(carrier.webhook_secret, body, request.headers.get(SIGNATURE_HEADER, "")):
            raise BadSignature(f"Missing or wrong {SIGNATURE_HEADER} header.")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise MalformedEvent("The body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise MalformedEvent("The body must be one JSON object (one event).")
        serializer = CarrierEventSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        shipment, created = shipment_record_carrier_event(
            carrier=carrier, tracking_number=data["tracking_number"], event_id=data["event_id"],
            status_code=data["status_code"], occurred_at=data["occurred_at"], location=data["location"],
            description=data["description"],
        )
        return Response({"tracking_number": shipment.tracking_number, "status": shipment.status,
                         "duplicate": not created},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
