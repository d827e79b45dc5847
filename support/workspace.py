"""Reads for the agent workspace: the case beside a ticket, and one search box over tickets, orders and customers.

Search at a million orders: a ticket number is an exact lookup; orders are found by orders.selectors.order_search
(tracking numbers and serials exactly, part of a number, name, email or phone on a trigram index).
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q

from orders.models import Order, OrderEvent
from orders.selectors import order_search
from shipping.models import Shipment, ShipmentUnit

from .models import Ticket

TICKET_NUMBER = re.compile(r"TK-[A-Z0-9]{4}-[A-Z0-9]{4}")
RESULTS = 20


def case_for(ticket: Ticket) -> dict:
    """The order, its lines with the serials that went out, its parcels with their tracking, its returns and
    refunds, and its timeline, in a fixed number of queries."""
    order = ticket.order
    if order is None:
        return {"order": None}
    from returns.models import Refund, ReturnRequest

    lines = list(order.lines.all())
    parcels = list(Shipment.objects.filter(order=order).select_related("carrier", "warehouse")
                   .prefetch_related("lines__order_line", Prefetch("units", queryset=ShipmentUnit.objects
                                                                   .select_related("unit", "line")))
                   .order_by("created_at", "id"))
    returns = list(ReturnRequest.objects.filter(order=order).select_related("replacement_order", "label_shipment")
                   .prefetch_related("lines__unit", "lines__replacement_unit", "lines__order_line")
                   .order_by("created_at"))
    refunds = list(Refund.objects.filter(order=order).order_by("created_at"))
    timeline = list(OrderEvent.objects.filter(order=order).select_related("actor").order_by("created_at", "id"))
    return {"order": order, "lines": lines, "parcels": parcels, "returns": returns, "refunds": refunds,
            "timeline": timeline}


def search(term: str) -> dict:
    """Tickets, orders and customers that match `term` (at most RESULTS of each, newest first)."""
    term = " ".join(term.split())
    upper = term.upper()
    tickets = Ticket.objects.select_related("assignee", "order").order_by("-created_at")
    orders = Order.objects.select_related("customer").order_by("-placed_at", "-id")
    users = get_user_model().objects.filter(is_staff=False).order_by("username")
    if TICKET_NUMBER.fullmatch(upper):
        return {"tickets": list(tickets.filter(number=upper)[:1]), "orders": [], "customers": [], "term": term}
    email = "@" in term
    found_orders = list(order_search(orders, term)[:RESULTS])  # tracking numbers, serials, number, email, name
    ticket_hits = list(tickets.filter(Q(email__iexact=term) | Q(order__in=[o.pk for o in found_orders])
                                      | Q(subject__icontains=term) | Q(serial=upper))[:RESULTS])
    customers = list(users.filter(pk__in={o.customer_id for o in found_orders if o.customer_id})[:RESULTS])
    if email and not customers:
        customers = list(users.filter(email__iexact=term)[:RESULTS])
    return {"tickets": ticket_hits, "orders": found_orders, "customers": customers, "term": term}
