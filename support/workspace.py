"""Reads for the agent workspace: the case beside a ticket, and one search box over tickets, orders and customers.

Search at a million orders: a ticket number, a tracking number and a serial are exact lookups on their indexes;
anything else (part of an order number, a name, an email, a phone number) uses one trigram index over the
order's searchable text (orders/migrations/0009), so `%term%` never scans the table.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import CharField, Prefetch, Q
from django.db.models.expressions import RawSQL

from inventory.models import Unit
from orders.models import Order, OrderEvent
from shipping.models import Shipment, ShipmentUnit

from .models import Ticket

TICKET_NUMBER = re.compile(r"TK-[A-Z0-9]{4}-[A-Z0-9]{4}")
RESULTS = 20
ORDER_HAYSTACK = ("upper(\"orders_order\".\"number\" || ' ' || \"orders_order\".\"email\" || ' ' || "
                  "\"orders_order\".\"ship_name\" || ' ' || \"orders_order\".\"phone\")")


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
    order_ids: set[int] = set()
    # a tracking number or a serial: exact, through their own indexes
    order_ids |= set(Shipment.objects.filter(tracking_number=upper).values_list("order_id", flat=True))
    units = list(Unit.objects.filter(serial=upper.replace(" ", "")).values_list("pk", flat=True))
    if units:
        order_ids |= set(ShipmentUnit.objects.filter(unit_id__in=units).values_list("shipment__order_id",
                                                                                   flat=True))
    matched = orders.filter(pk__in=order_ids) if order_ids else orders.none()
    email = "@" in term
    if email and not order_ids:  # an address: exact, on the order's email index (a customer may have thousands)
        matched = orders.filter(email__iexact=term)
    if connection.vendor == "postgresql":
        text = orders.annotate(haystack=RawSQL(ORDER_HAYSTACK, [], output_field=CharField()))
        by_text = text.filter(haystack__contains=upper)  # LIKE '%TERM%' on the trigram index
    else:
        by_text = orders.filter(Q(number__icontains=term) | Q(email__icontains=term) | Q(ship_name__icontains=term)
                                | Q(phone__icontains=term))
    found_orders = list(matched[:RESULTS]) or list(by_text[:RESULTS])
    ticket_hits = list(tickets.filter(Q(email__iexact=term) | Q(order__in=[o.pk for o in found_orders])
                                      | Q(subject__icontains=term) | Q(serial=upper))[:RESULTS])
    customers = list(users.filter(pk__in={o.customer_id for o in found_orders if o.customer_id})[:RESULTS])
    if email and not customers:
        customers = list(users.filter(email__iexact=term)[:RESULTS])
    return {"tickets": ticket_hits, "orders": found_orders, "customers": customers, "term": term}
