"""The one case: a ticket starts the after-sales work (a return, claim, replacement or refund) with its order line
and serial preselected, and the case's events (return label, item received, replacement shipped and delivered,
refund issued, parcel scans) come back onto the ticket. A ticket whose return promises a replacement or a refund
is solved when the customer has it, not before. A carrier's delivery exception opens a ticket by itself."""

from __future__ import annotations

from django.utils import timezone

from config.db import atomic_service
from orders.models import Order, OrderEvent

from ..errors import InvalidTicket, TicketTransitionForbidden
from ..models import Category, Priority, Ticket, TicketEvent
from .tickets import _is_agent, lock, move, record, ticket_open

__all__ = ["case_pending", "on_order_event_recorded", "on_shipment_status_changed", "ticket_start_return"]

S = Ticket.Status


def case_pending(ticket: Ticket) -> str:
    """What the customer is still waiting for ("" when nothing): the replacement's delivery, or the refund."""
    rr = ticket.return_request
    if rr is None or rr.status in ("rejected", "cancelled"):
        return ""
    if rr.resolution in ("replacement", "exchange"):
        replacement = rr.replacement_order
        if replacement is None:
            return f"return {rr.number} has not sent the {rr.get_resolution_display().lower()} yet."
        if replacement.status != Order.Status.DELIVERED:
            return f"the replacement (order {replacement.number}) has not been delivered yet."
        return ""
    if not rr.refunds.exists():
        return f"the refund of return {rr.number} has not been issued yet."
    return ""


@atomic_service
def ticket_start_return(*, ticket: Ticket | str, actor, resolution: str, lines: list[dict] | None = None,
                        handling: str | None = None, exchange_sku: str = "", note: str = ""):
    """Start the return or claim of the ticket's case through the after-sales services: by default the ticket's
    order line (one unit, with its serial, for the ticket's category's reason). With `handling` it is approved at
    once (an advance replacement, a keep-it refund). The return links back to the ticket."""
    from returns.services import return_approve, return_create

    if not _is_agent(actor):
        raise TicketTransitionForbidden("Only support agents start returns from tickets.", transition="return")
    # the order is locked (by the returns services) before the ticket, as on every path that touches both
    locked = Ticket.objects.select_related("order").get(number=getattr(ticket, "number", ticket))
    if locked.order_id is None:
        raise InvalidTicket(f"Ticket {locked.number} names no order: link the order first.",
                            fields={"order": ["Required."]})
    if lines is None:
        if locked.order_line_id is None:
            raise InvalidTicket("Choose the order line the claim is about.", fields={"lines": ["Required."]})
        reason = {Category.DEFECT: "defective", Category.DELIVERY: "damaged_in_transit"}.get(locked.category,
                                                                                             "no_longer_wanted")
        lines = [{"line": locked.order_line_id, "quantity": 1, "reason": reason, "serial": locked.serial,
                  "description": note or locked.subject}]
    rr = return_create(order=locked.order, lines=lines, resolution=resolution, channel="support", actor=actor,
                       customer_note=note or locked.subject, exchange_sku=exchange_sku)
    if handling:
        return_approve(return_request=rr.number, actor=actor, handling=handling)
        rr.refresh_from_db()
    locked = lock(locked)
    locked.return_request = rr
    locked.save(update_fields=["return_request", "updated_at"])
    record(locked, kind=TicketEvent.Kind.LINK, actor=actor, internal=False,
           text=f"Return {rr.number} started: {rr.get_resolution_display().lower()}"
                + (f", {rr.get_handling_display().lower()}" if handling else "") + ".",
           data={"return_number": rr.number, "resolution": resolution})
    return rr


def _tickets_of_case(order: Order, event: OrderEvent):
    """Tickets an order timeline entry concerns: those on the order, on its return, or on the return a
    replacement order was sent for."""
    return_number = (event.data or {}).get("return_number", "")
    tickets = Ticket.objects.filter(order=order)
    if order.replaces_id:  # the replacement's own events concern the original order's tickets
        tickets = Ticket.objects.filter(return_request__replacement_order=order)
    elif return_number:
        tickets = Ticket.objects.filter(return_request__number=return_number) | tickets
    return tickets.exclude(status__in=[S.MERGED]).select_related("return_request__replacement_order")


def on_order_event_recorded(sender, *, order, event, **kwargs) -> None:
    """The case's events come onto its tickets; a fulfilled promise solves the ticket."""
    if event.internal or event.kind not in ("return", "parcel_update", "payment", "status"):
        return
    if event.kind == "payment" and "refund_amount" not in (event.data or {}):
        return
    if event.kind == "status" and not (order.replaces_id and event.transition in ("ship", "ship_partially",
                                                                                  "deliver")):
        return  # the order's own progress is on its timeline, which the ticket page shows beside
    tickets = list(_tickets_of_case(order, event))
    if not tickets:
        return
    for ticket in tickets:
        text = event.text or event.customer_title
        if order.replaces_id and event.kind == "status":
            text = f"Replacement order {order.number}: {event.to_status_label.lower()}."
        TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.CASE, text=text, internal=False,
                                   data={"order_number": order.number, "kind": event.kind, **(event.data or {})})
        if ticket.is_active and ticket.return_request_id and not case_pending(ticket) and _promise_event(event,
                                                                                                         order):
            locked = lock(ticket)
            move(locked, "solve", check_permission=False,
                 text="Solved: the customer has what we promised.")
            locked.refresh_from_db()
            from . import sla

            met = sla.resolution_met(locked)
            if met is not None:
                record(locked, kind=TicketEvent.Kind.SLA, data={"met": met},
                       text="Resolved within the target." if met else "Resolved after the target.")


def _promise_event(event: OrderEvent, order: Order) -> bool:
    """An event that fulfils a return's promise: the replacement delivered, or a refund issued."""
    if order.replaces_id and event.kind == "status" and event.transition == "deliver":
        return True
    return event.kind == "payment" and "refund_amount" in (event.data or {})


def on_shipment_status_changed(sender, *, shipment, event, payload, **kwargs) -> None:
    """A carrier reported a delivery problem: one ticket per parcel exception, or a note on the open one."""
    if event != "shipment.exception":
        return
    order = shipment.order
    reason = payload.get("exception_display") or "a delivery problem"
    text = (f"{payload.get('carrier_name') or 'The carrier'} reported {reason} for parcel "
            f"{shipment.tracking_number} at {timezone.localtime():%d %b %H:%M}.")
    active = Ticket.objects.filter(shipment=shipment, status__in=Ticket.ACTIVE).order_by("-created_at").first()
    if active is not None:
        record(active, kind=TicketEvent.Kind.CASE, internal=False, text=text,
               data={"shipment_id": shipment.pk, "exception_reason": payload.get("exception_reason", "")})
        return
    ticket_open(subject=f"Delivery problem: parcel {shipment.tracking_number}"[:200], body=text, email=order.email,
                customer=order.customer, name=order.ship_name, category=Category.DELIVERY, priority=Priority.HIGH,
                channel=Ticket.Channel.SYSTEM, order=order, shipment=shipment, notify=False,
                actor=None)
