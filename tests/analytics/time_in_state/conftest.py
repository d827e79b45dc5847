"""Time-in-state rules: the default rules (from the migration), real objects made through the apps' services, and
the evaluation run as the periodic task runs it."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from analytics.models import Breach, TimeInStateRule
from analytics.time_in_state.services import rules_evaluate
from notifications.models import OutboxMessage
from tests.returns.conftest import case, delivered, north, phone  # noqa: F401 - shared fixtures
from tests.shipping.conftest import local, packed_order, warehouses  # noqa: F401 - shared fixtures
from tests.support.conftest import agents, desk  # noqa: F401 - shared fixtures

DEFAULTS = {
    "order.unfulfilled": "Order not shipped in full 48 h after it was placed",
    "shipment.label_unscanned": "Label created but never scanned by the carrier",
    "return.received_unresolved": "Return received but not resolved",
    "ticket.first_reply": "Ticket waiting for a first reply past its SLA",
    "ticket.waiting_on_us": "Ticket waiting on us past its SLA",
    "return.defective_unit_not_back": "Advance replacement: the faulty unit not back by its due date",
}


def rule(state: str) -> TimeInStateRule:
    return TimeInStateRule.objects.get(name=DEFAULTS[state])


def only(*states: str) -> None:
    """Keep the default rules of these states active (a test about one rule is not disturbed by the others)."""
    TimeInStateRule.objects.exclude(state__in=states).update(active=False)


def evaluate(now=None) -> dict[str, tuple[int, int]]:
    """One run of the periodic task: rule name → (opened, closed), for the rules that did something."""
    return {name: (r.opened, r.closed) for name, r in rules_evaluate(now=now).items() if r.opened or r.closed}


def alerts(event: str | None = None):
    qs = OutboxMessage.objects.order_by("pk")
    return qs.filter(event=event) if event else qs


def open_breaches():
    return Breach.objects.filter(closed_at__isnull=True)


def hours_later(hours: float):
    return timezone.now() + timedelta(hours=hours)


def travel(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def staff_list(settings):
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    return settings.WAYBILL_STAFF_ALERT_EMAILS
