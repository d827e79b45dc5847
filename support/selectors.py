"""Reads for support: tickets scoped to the viewer (a customer sees their own, agents all), one ticket with its
conversation and timeline (internal notes only for agents), and the queues of the workspace."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from .errors import TicketNotFound
from .models import Message, Ticket, TicketEvent

NUMBER_SHAPE = re.compile(r"TK-[A-Z0-9]{4}-[A-Z0-9]{4}")


def is_agent(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff and user.has_perm("support.work_ticket"))


def ticket_list(*, user) -> QuerySet[Ticket]:
    qs = Ticket.objects.select_related("assignee", "queue", "order")
    if is_agent(user):
        return qs
    if user and user.is_authenticated:
        return qs.filter(customer=user).exclude(status=Ticket.Status.MERGED)
    return qs.none()


def ticket_detail(*, number: str, user) -> Ticket:
    """One ticket with its messages (and attachments) and timeline; a customer gets only public messages and
    entries, and anyone else's ticket is a 404."""
    number = str(number).upper()
    if not NUMBER_SHAPE.fullmatch(number):
        raise TicketNotFound("No such ticket.", number=number[:40])
    agent = is_agent(user)
    messages = Message.objects.select_related("author").prefetch_related("attachments").order_by("created_at", "id")
    events = TicketEvent.objects.select_related("actor").order_by("created_at", "id")
    if not agent:
        messages, events = messages.filter(internal=False), events.filter(internal=False)
    qs = ticket_list(user=user).select_related(
        "customer", "order_line", "shipment__carrier", "return_request", "sla_policy", "merged_into",
        "follow_up_of").prefetch_related(Prefetch("messages", queryset=messages), Prefetch("events", queryset=events))
    try:
        return qs.get(number=number)
    except Ticket.DoesNotExist:
        raise TicketNotFound(f"No ticket {number}.", number=number) from None


def ticket_queue(qs: QuerySet[Ticket], *, view: str, user, now: datetime | None = None,
                 soon: timedelta = timedelta(hours=2)) -> QuerySet[Ticket]:
    """The workspace's views: mine, unassigned, breaching soon (or already), waiting on the customer, all open."""
    now = now or timezone.now()
    active = qs.filter(status__in=[Ticket.Status.NEW, Ticket.Status.OPEN])
    if view == "mine":
        return qs.filter(assignee=user, status__in=Ticket.ACTIVE)
    if view == "unassigned":
        return active.filter(assignee__isnull=True)
    if view == "breaching":
        return active.filter(Q(resolution_due__lte=now + soon) |
                             Q(first_responded_at__isnull=True, first_response_due__lte=now + soon))
    if view == "waiting":
        return qs.filter(status=Ticket.Status.WAITING)
    return qs.filter(status__in=Ticket.ACTIVE)
