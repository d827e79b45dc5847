"""The states a time-in-state rule can watch: for each, which objects are in it, since when (in SQL, from the
timelines and status timestamps the owning apps keep), the object's own due time where it has one, and what the
alert says.

    STATES["shipment.label_unscanned"].objects()      # the shipments in the state (a QuerySet)
    STATES["order.unfulfilled"].entered()             # an expression: when each one entered it

"Since when" is the latest entry into the state: an order's latest status event from outside the state into it
(orders.OrderEvent), a ticket's (support.TicketEvent), a return's (returns.ReturnEvent), or the status timestamp
the owning app already keeps (a label's creation, a return's receipt, a shipment's status_changed_at). Each state
also names a field the entry is never earlier than (`not_before`: an order is never in a state before it was
placed), indexed together with the status, so the scan reads only objects old enough to be late.

Several states keep the event name, texts and timeline entry of the alert their app raised before the rules
existed (shipment.scan_overdue, return.unresolved_alert, return.item_overdue_alert, ticket.sla_breached), and
its idempotency key (`legacy_key`), so an alert raised by the old check is not raised again by a rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

GENERIC_EVENT = "time_in_state.breached"


@dataclass(frozen=True)
class Found:
    """A breach being raised: what the alert's words need."""

    rule: Any
    entered_at: datetime
    due_at: datetime
    now: datetime
    waited_hours: int  # since the entry; working hours when the rule counts only those

    @property
    def by_due_time(self) -> bool:
        return self.rule.uses_due_time


@dataclass(frozen=True)
class Due:
    """The object's own due time (a ticket's SLA target, the date a faulty item must be back)."""

    overdue: Callable[[datetime], Q]  # the objects past it at `now`, in SQL
    at: Callable[[Any], datetime]  # one object's due time
    field: str  # the column it comes from (the scan's order)
    event: str = ""  # the alert's event when the rule goes by the due time (default: the state's)


@dataclass(frozen=True)
class State:
    key: str
    label: str  # "has been …": "not yet shipped in full"
    model: str  # "app_label.Model"
    condition: Callable[[], Q]
    entered: Callable[[], Any]  # an expression: when the object entered the state (never null with a `due`)
    not_before: str  # a field the entry is never earlier than, indexed with the status
    event: str = GENERIC_EVENT
    due: Due | None = None
    related: tuple[str, ...] = ()
    label_of: Callable[[Any], str] = str
    subject_of: Callable[[Any], Any] = lambda obj: obj  # what the outbox message is about
    describe: Callable[[Any, Found], dict | None] | None = None  # title, message and more; None: generic words
    record: Callable[[Any, str, Found], None] | None = None  # the owning app's timeline entry
    legacy_key: Callable[[Any, Found], str | None] | None = None
    group: str = field(default="")

    @property
    def object_type(self) -> str:
        return self.key.partition(".")[0]

    def model_class(self):
        return apps.get_model(self.model)

    def objects(self) -> QuerySet:
        return self.model_class().objects.filter(self.condition())

    def event_for(self, rule) -> str:
        if rule.uses_due_time and self.due is not None and self.due.event:
            return self.due.event
        return self.event

    def link(self, object_id: int) -> str:
        meta = self.model_class()._meta
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[object_id])

    def alert(self, obj, found: Found) -> dict:
        payload = (self.describe(obj, found) if self.describe else None) or _generic(self, obj, found)
        return {"link": self.link(obj.pk), "rule": found.rule.name, "state": self.key,
                "entered_at": found.entered_at.isoformat(), "due_at": found.due_at.isoformat(), **payload}


def _generic(state: State, obj, found: Found) -> dict:
    label = state.label_of(obj)
    since = timezone.localtime(found.entered_at)
    hours = f"{found.waited_hours} working hours" if found.rule.business_hours else f"{found.waited_hours} h"
    if found.by_due_time:
        limit = f"it was due {timezone.localtime(found.due_at):%a %d %b %H:%M}"
    else:
        limit = f"the rule allows {found.rule.max_age_label}"
    return {"title": f"{label} {state.label} for {hours}",
            "message": f"{label} has been {state.label} since {since:%a %d %b %H:%M} ({hours}); {limit} "
                       f"(rule “{found.rule.name}”)."}


def latest_entry(event_model: str, fk: str, statuses: list[str]) -> Subquery:
    """When the object's status last moved from outside `statuses` into them, from its timeline's status events."""
    events = (apps.get_model(event_model).objects
              .filter(**{fk: OuterRef("pk")}, kind="status", to_status__in=statuses)
              .exclude(from_status__in=statuses)
              .order_by("-created_at", "-id").values("created_at")[:1])
    return Subquery(events)


def _end_of_local_day(day) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.get_current_timezone())


# --- orders ----------------------------------------------------------------------------------------------------

UNFULFILLED = ["placed", "confirmed", "processing", "packed", "partially_shipped", "on_hold"]


def _order_state(key: str, label: str, statuses: list[str], *, event: str = GENERIC_EVENT) -> State:
    return State(
        key=key, label=label, model="orders.Order", condition=lambda: Q(status__in=statuses),
        entered=lambda: Coalesce(latest_entry("orders.OrderEvent", "order", statuses), F("placed_at")),
        not_before="placed_at", event=event, label_of=lambda order: f"Order {order.number}", group="Orders",
    )


ORDER_STATES = [
    _order_state("order.unfulfilled", "not yet shipped in full", UNFULFILLED, event="order.unfulfilled_alert"),
    _order_state("order.on_hold", "on hold", ["on_hold"]),
    _order_state("order.shipped", "shipped and not delivered", ["shipped"]),
    _order_state("order.returned", "back from the carrier and not sent again", ["returned"]),
]


# --- shipments -------------------------------------------------------------------------------------------------

def _parcel(shipment) -> str:
    return f"Parcel {shipment.pk} ({shipment.order.number})"


def _scan_overdue(shipment, found: Found) -> dict:
    carrier = shipment.carrier.name if shipment.carrier_id else "carrier"
    return {"title": f"No carrier scan for {shipment.reference_label} ({shipment.order.number})",
            "message": f"The {carrier} label {shipment.tracking_number} was created {found.waited_hours} h ago and "
                       "the carrier has not scanned the parcel. Check it was collected.",
            "order_number": shipment.order.number, "tracking_number": shipment.tracking_number}


def _shipment_state(key: str, label: str, status: str) -> State:
    return State(
        key=key, label=label, model="shipping.Shipment", condition=lambda: Q(status=status),
        entered=lambda: Coalesce(F("status_changed_at"), F("created_at")), not_before="created_at",
        related=("order",), label_of=_parcel, subject_of=lambda shipment: shipment.order, group="Shipments",
    )


SHIPMENT_STATES = [
    State(
        key="shipment.label_unscanned", label="labelled and never scanned by the carrier", model="shipping.Shipment",
        # a return label waits for the customer to drop the parcel off: not a parcel we forgot
        condition=lambda: Q(status="label_created", last_scan_at__isnull=True, direction="outbound"),
        entered=lambda: F("label_created_at"), not_before="label_created_at", event="shipment.scan_overdue",
        related=("order", "carrier"), label_of=_parcel, subject_of=lambda shipment: shipment.order,
        describe=_scan_overdue, group="Shipments",
        legacy_key=lambda s, found: f"shipment:{s.pk}:scan_overdue:{s.label_created_at.isoformat()}",
    ),
    _shipment_state("shipment.in_transit", "in transit", "in_transit"),
    _shipment_state("shipment.exception", "held up by a delivery problem", "exception"),
]


# --- returns ---------------------------------------------------------------------------------------------------

def _record_return_alert(rr, title: str, found: Found) -> None:
    from returns.services import return_record_alert

    return_record_alert(return_request=rr, text=title + ".")


def _unresolved(rr, found: Found) -> dict:
    hours = found.waited_hours
    return {"title": f"Return {rr.number} received {hours} h ago and not resolved",
            "message": f"The item of order {rr.order.number} came back {hours} hours ago. Inspect it and give the "
                       f"customer their {rr.get_resolution_display().lower()}.",
            "order_number": rr.order.number, "return_number": rr.number}


def _item_overdue(rr, found: Found) -> dict:
    due = rr.item_due_by.isoformat() if rr.item_due_by else "its due date"
    return {"title": f"Faulty item of return {rr.number} not back",
            "message": f"A replacement was sent ahead for order {rr.order.number}; the faulty item was due back by "
                       f"{due} and has not arrived. Contact the customer.",
            "order_number": rr.order.number, "return_number": rr.number}


def _awaiting_entry():
    return Coalesce(latest_entry("returns.ReturnEvent", "return_request", ["awaiting_item"]), F("approved_at"),
                    F("created_at"))


RETURN_STATES = [
    State(
        key="return.requested", label="waiting for a decision", model="returns.ReturnRequest",
        condition=lambda: Q(status="requested"), entered=lambda: F("created_at"), not_before="created_at",
        related=("order",), label_of=lambda rr: f"Return {rr.number}", group="Returns",
    ),
    State(
        key="return.awaiting_item", label="approved and the item not back", model="returns.ReturnRequest",
        condition=lambda: Q(status="awaiting_item", handling="return"), entered=_awaiting_entry,
        not_before="created_at", related=("order",), label_of=lambda rr: f"Return {rr.number}", group="Returns",
    ),
    State(
        key="return.received_unresolved", label="received and not resolved", model="returns.ReturnRequest",
        condition=lambda: Q(status__in=["received", "inspected"]), entered=lambda: F("received_at"),
        not_before="received_at", event="return.unresolved_alert", related=("order",),
        label_of=lambda rr: f"Return {rr.number}", describe=_unresolved, record=_record_return_alert,
        legacy_key=lambda rr, found: f"return:{rr.pk}:unresolved:{rr.received_at.isoformat()}", group="Returns",
    ),
    State(
        key="return.defective_unit_not_back", label="replaced in advance and the faulty unit not back",
        model="returns.ReturnRequest",
        condition=lambda: Q(status="awaiting_item", handling="advance_replacement"), entered=_awaiting_entry,
        not_before="created_at", event="return.item_overdue_alert", related=("order",),
        due=Due(overdue=lambda now: Q(item_due_by__lt=timezone.localdate(now)),
                at=lambda rr: _end_of_local_day(rr.item_due_by), field="item_due_by"),
        label_of=lambda rr: f"Return {rr.number}", describe=_item_overdue, record=_record_return_alert,
        legacy_key=lambda rr, found: (f"return:{rr.pk}:item_overdue:{rr.item_due_by.isoformat()}"
                                      if found.by_due_time and rr.item_due_by else None),
        group="Returns",
    ),
]


# --- tickets ---------------------------------------------------------------------------------------------------

WAITING_ON_US = ["new", "open"]


def _sla_words(target: str, due_of: Callable[[Any], datetime]):
    def describe(ticket, found: Found) -> dict:
        from support.services import sla_alert_payload, sla_alert_title

        if not found.by_due_time:
            return None  # a maximum age of the rule's own: the generic words, not an SLA breach
        due = due_of(ticket)
        return {**sla_alert_payload(ticket, target=target, due=due),
                "title": sla_alert_title(ticket, target=target, due=due, level="breached")}

    def record(ticket, title: str, found: Found) -> None:
        if found.by_due_time:
            from support.services import ticket_record_sla_breach

            ticket_record_sla_breach(ticket=ticket, target=target, due=due_of(ticket), title=title)

    def legacy_key(ticket, found: Found) -> str | None:
        due = due_of(ticket)
        return f"ticket:{ticket.pk}:sla:{target}:breached:{due.isoformat()}" if found.by_due_time and due else None

    return describe, record, legacy_key


_first_words = _sla_words("first_response", lambda t: t.first_response_due)
_resolution_words = _sla_words("resolution", lambda t: t.resolution_due)

TICKET_STATES = [
    State(
        key="ticket.first_reply", label="waiting for our first reply", model="support.Ticket",
        condition=lambda: Q(status__in=["new", "open", "waiting"], first_responded_at__isnull=True),
        entered=lambda: F("created_at"), not_before="created_at",
        due=Due(overdue=lambda now: Q(first_response_due__lte=now), at=lambda t: t.first_response_due,
                field="first_response_due", event="ticket.sla_breached"),
        related=("assignee", "order"), label_of=lambda t: f"Ticket {t.number}",
        describe=_first_words[0], record=_first_words[1], legacy_key=_first_words[2], group="Tickets",
    ),
    State(
        key="ticket.waiting_on_us", label="waiting on us", model="support.Ticket",
        condition=lambda: Q(status__in=WAITING_ON_US),
        entered=lambda: Coalesce(latest_entry("support.TicketEvent", "ticket", WAITING_ON_US), F("created_at")),
        not_before="created_at",
        # the resolution clock runs while the ticket waits on us; a pause for the customer moves the due time
        due=Due(overdue=lambda now: Q(resolution_due__lte=now, resolution_running_since__isnull=False),
                at=lambda t: t.resolution_due, field="resolution_due", event="ticket.sla_breached"),
        related=("assignee", "order"), label_of=lambda t: f"Ticket {t.number}",
        describe=_resolution_words[0], record=_resolution_words[1], legacy_key=_resolution_words[2],
        group="Tickets",
    ),
    State(
        key="ticket.waiting_on_customer", label="waiting on the customer", model="support.Ticket",
        condition=lambda: Q(status="waiting"),
        entered=lambda: Coalesce(latest_entry("support.TicketEvent", "ticket", ["waiting"]), F("created_at")),
        not_before="created_at", related=("assignee", "order"), label_of=lambda t: f"Ticket {t.number}",
        group="Tickets",
    ),
]

STATES: dict[str, State] = {state.key: state for state in
                            ORDER_STATES + SHIPMENT_STATES + RETURN_STATES + TICKET_STATES}


def state_choices() -> list:
    """Grouped by object type, for the rule's form."""
    groups: dict[str, list] = {}
    for state in STATES.values():
        groups.setdefault(state.group, []).append((state.key, state.label[:1].upper() + state.label[1:]))
    return list(groups.items())
