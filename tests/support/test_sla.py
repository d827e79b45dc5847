"""SLA clocks with time travel: business hours across nights, a weekend and a holiday, paused while we wait on the
customer, resumed on their reply; one staff alert at the warning threshold and one at breach (the breach from the
time-in-state rules, tests/analytics)."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from notifications.models import OutboxMessage
from support.models import Holiday
from support.services import sla_alert, ticket_customer_reply, ticket_open, ticket_reply, ticket_transition

pytestmark = pytest.mark.django_db


def berlin(moment) -> str:
    return moment.astimezone(ZoneInfo("Europe/Berlin")).isoformat()


def travel(moment):
    return time_machine.travel(moment, tick=False)


def test_pause_resume_weekend_and_holiday(customer, desk, agents):
    calendar, _ = desk
    ann, _ = agents
    Holiday.objects.create(calendar=calendar, date=date(2026, 12, 8), name="Office party")
    # Friday 15:00: a normal ticket has 16 working hours to be resolved
    with travel("2026-12-04 15:00 +01:00"):
        ticket = ticket_open(subject="Broken hinge", body="The lid is loose.", customer=customer, notify=False)
        # Fri 15-17 (2 h), Mon 9-17 (8 h), Tue is a holiday, Wed 9-15 (6 h)
        assert berlin(ticket.resolution_due) == "2026-12-09T15:00:00+01:00"
    # Monday 11:00 (4 working hours spent) we ask the customer something: the clock stops
    with travel("2026-12-07 11:00 +01:00"):
        ticket_reply(ticket=ticket, author=ann, body="Can you send a photo?")
    # they answer on Thursday at 10:00: the 12 hours left run from there (Thu 10-17, Fri 9-14)
    with travel("2026-12-10 10:00 +01:00"):
        ticket, _ = ticket_customer_reply(ticket=ticket.number, body="Here it is.", customer=customer)
        assert berlin(ticket.resolution_due) == "2026-12-11T14:00:00+01:00"
    # solved on Friday at 13:00: 4 + 7 + 4 = 15 working hours, within the 16
    with travel("2026-12-11 13:00 +01:00"):
        ticket = ticket_transition(ticket=ticket.number, name="solve", actor=ann)
    assert ticket.resolution_spent_minutes == 15 * 60
    assert ticket.events.filter(kind="sla").last().text == "Resolved within the target."


def test_one_warning_and_one_breach_per_target(customer, desk, agents, settings):
    """The warning is the SLA clock's own (sla_alert); the breach is the time-in-state rules' (analytics): run
    together, as beat runs them, they alert once each per target."""
    from analytics.time_in_state.services import rules_evaluate

    def both():
        return sla_alert(), sum(result.opened for result in rules_evaluate().values())

    settings.WAYBILL_STAFF_ALERT_EMAILS = ["leads@example.com"]
    with travel("2026-12-07 09:00 +01:00"):
        ticket = ticket_open(subject="Urgent", body="Nothing works.", customer=customer, priority="urgent",
                             notify=False)  # 30 min first reply, 4 h resolution
    with travel("2026-12-07 09:10 +01:00"):
        assert both() == (0, 0)
    with travel("2026-12-07 09:23 +01:00"):  # 75 % of the first reply's 30 minutes
        assert both() == (1, 0)
        assert both() == (0, 0)
    with travel("2026-12-07 09:31 +01:00"):
        assert both() == (0, 1)
    with travel("2026-12-07 12:01 +01:00"):  # 75 % of 4 h of resolution
        assert both() == (1, 0)
    with travel("2026-12-07 13:01 +01:00"):
        assert both() == (0, 1)
        assert both() == (0, 0)
    events = sorted(OutboxMessage.objects.values_list("event", flat=True))
    assert events == ["ticket.sla_breached", "ticket.sla_breached", "ticket.sla_warning", "ticket.sla_warning"]
    titles = [m.payload["title"] for m in OutboxMessage.objects.order_by("pk")]
    assert titles[0].startswith(f"SLA warning: {ticket.number} first reply due")
    assert titles[-1].startswith(f"SLA breached: {ticket.number} resolution was due")
    assert list(ticket.events.filter(kind="sla").values_list("data__level", flat=True)) == [
        "warning", "breached", "warning", "breached"]


def test_no_alerts_while_waiting_on_the_customer(customer, desk, agents):
    ann, _ = agents
    with travel("2026-12-07 09:00 +01:00"):
        ticket = ticket_open(subject="Q", body="?", customer=customer, priority="urgent", notify=False)
        ticket_reply(ticket=ticket, author=ann, body="Which order?")
    with travel("2026-12-08 16:00 +01:00"):
        assert sla_alert() == 0
    assert timedelta(0) < ticket.first_response_due - ticket.created_at
