"""The tickets API: customers open tickets and write on their own (anyone else's is a 404); agents list, answer,
note, assign and move them. Internal notes and the staff side of the timeline are for agents only. Writes take an
Idempotency-Key. Raw inbound email is posted, signed, to /api/support/inbound-email/."""

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import NewestFirstCursorPagination, with_errors
from config.parsers import SafeJSONParser, SafeMultiPartParser
from orders.idempotency import idempotent

from .errors import BadSignature
from .filters import TicketFilter
from .models import Message, Ticket
from .selectors import is_agent, ticket_detail, ticket_list
from .serializers import (
    AssignSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    TicketCreateSerializer,
    TicketDetailSerializer,
    TicketListSerializer,
    TicketTransitionSerializer,
)
from .services import (
    inbound_email_receive,
    ticket_assign,
    ticket_customer_reply,
    ticket_open,
    ticket_reply,
    ticket_transition,
)
from .services.mail import inbound_signature_valid

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="Retry-safe: the same key and request get the first answer again; another request gets 422.")


def _detail(number: str, request, code=status.HTTP_200_OK) -> Response:
    agent = is_agent(request.user)
    ticket = ticket_detail(number=number, user=request.user)
    return Response(TicketDetailSerializer(ticket, context={"agent": agent}).data, status=code)


class TicketPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class TicketListCreateApi(generics.ListAPIView):
    """Agents see every ticket (with filters); a customer sees their own."""

    serializer_class = TicketListSerializer
    filterset_class = TicketFilter
    pagination_class = TicketPagination
    queryset = Ticket.objects.none()

    def get_queryset(self):
        return ticket_list(user=self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "agent": is_agent(self.request.user)}

    @extend_schema(request=TicketCreateSerializer,
                   responses=with_errors({201: TicketDetailSerializer}), parameters=[IDEMPOTENCY])
    def post(self, request):
        user, agent = request.user, is_agent(request.user)
        if user.is_staff and not agent:
            raise PermissionDenied("Only support agents open tickets for customers.")
        serializer = TicketCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if agent:
            if not data["email"]:
                raise ValidationError({"email": ["Give the customer's email address."]})
            customer = get_user_model().objects.filter(email__iexact=data["email"], is_active=True).first()
            extra = {"email": data["email"], "customer": customer, "priority": data["priority"],
                     "channel": data["channel"]}
        else:
            extra = {"customer": user, "email": user.email, "channel": Ticket.Channel.API}

        def run():
            ticket = ticket_open(subject=data["subject"], body=data["body"], category=data["category"],
                                 order=data["order"] or None, order_line=data["order_line"],
                                 shipment=data["shipment"], return_request=data["return_request"] or None,
                                 serial=data["serial"], actor=user, **extra)
            return _detail(ticket.number, request, status.HTTP_201_CREATED)

        return idempotent(request, run)


class TicketDetailApi(APIView):
    @extend_schema(responses=with_errors(TicketDetailSerializer))
    def get(self, request, number: str):
        return _detail(number, request)


class TicketMessageApi(APIView):
    parser_classes = [SafeJSONParser, SafeMultiPartParser]

    @extend_schema(request={"application/json": MessageCreateSerializer,
                            "multipart/form-data": MessageCreateSerializer},
                   responses=with_errors({201: MessageSerializer}), parameters=[IDEMPOTENCY],
                   description="A customer's reply, or an agent's reply or internal note.")
    def post(self, request, number: str):
        ticket = ticket_detail(number=number, user=request.user)  # a 404 for anyone else's ticket
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, agent = serializer.validated_data, is_agent(request.user)
        if not agent and (data["internal"] or data["then"]):
            raise PermissionDenied("Only agents write internal notes or change the status.")

        def run():
            files = request.FILES.getlist("attachments")
            if agent:
                message = ticket_reply(ticket=ticket.number, author=request.user, body=data["body"],
                                       internal=data["internal"], then=data["then"], attachments=files)
            else:
                _, message = ticket_customer_reply(ticket=ticket.number, body=data["body"], customer=request.user,
                                                   source=Message.Source.API, attachments=files)
            return Response(MessageSerializer(message, context={"agent": agent}).data, status=status.HTTP_201_CREATED)

        return idempotent(request, run)


class TicketTransitionApi(APIView):
    @extend_schema(request=TicketTransitionSerializer,
                   responses=with_errors(TicketDetailSerializer), parameters=[IDEMPOTENCY],
                   description="Agents: open, wait, solve, close.")
    def post(self, request, number: str, name: str):
        ticket = ticket_detail(number=number, user=request.user)
        if not is_agent(request.user):
            raise PermissionDenied("Only support agents move tickets.")
        serializer = TicketTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def run():
            ticket_transition(ticket=ticket.number, name=name, actor=request.user,
                              text=serializer.validated_data["text"])
            return _detail(ticket.number, request)

        return idempotent(request, run)


class TicketAssignApi(APIView):
    @extend_schema(request=AssignSerializer, responses=with_errors(TicketDetailSerializer), parameters=[IDEMPOTENCY],
                   description="Take a ticket (your own id) or, as a lead, give it to another agent.")
    def post(self, request, number: str):
        ticket = ticket_detail(number=number, user=request.user)
        if not is_agent(request.user):
            raise PermissionDenied("Only support agents assign tickets.")
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignee_id = serializer.validated_data["assignee"]
        assignee = None
        if assignee_id is not None:
            assignee = get_user_model().objects.filter(pk=assignee_id).first()
            if assignee is None:
                raise ValidationError({"assignee": [f"No user {assignee_id}."]})

        def run():
            ticket_assign(ticket=ticket.number, assignee=assignee, actor=request.user)
            return _detail(ticket.number, request)

        return idempotent(request, run)


class InboundEmailApi(APIView):
    """Raw MIME as mail relays post it, signed with HMAC-SHA256 of the body (WAYBILL_INBOUND_EMAIL_SECRET) in
    X-Waybill-Signature. Answers 202 with what became of the email."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request={"message/rfc822": OpenApiTypes.BINARY},
                   responses=with_errors({202: OpenApiTypes.OBJECT}, 401),
                   auth=[])
    def post(self, request):
        raw = request._request.body
        if not inbound_signature_valid(raw, request.headers.get("X-Waybill-Signature", "")):
            raise BadSignature("The email is not signed with the inbound email secret.")
        log = inbound_email_receive(raw=raw)
        return Response({"outcome": log.outcome, "ticket": log.ticket.number if log.ticket_id else None,
                         "detail": log.detail}, status=status.HTTP_202_ACCEPTED)
