"""Each default rule (analytics/migrations/0051) raises exactly one alert for an object that waited too long and
none for a fresh one. Four of them replace checks the apps made themselves: same events, words, links and timeline
entries as before."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from analytics.models import TimeInStateRule
from analytics.tasks import time_in_state_evaluate_task
from returns.models import ReturnEvent, ReturnRequest
from returns.services import return_approve, return_create, return_receive
from shipping.models import Shipment
from shipping.services import shipment_create, shipment_transition
from support.services import ticket_open, ticket_reply
from tests.factories import place_order
from tests.returns.conftest import IMEI_SOLD
from tests.returns.conftest import line as order_line
from tests.returns.test_resolutions import case_return
from tests.shipping.conftest import line, wh

from .conftest import DEFAULTS, alerts, evaluate, hours_later, only, open_breaches, travel

pytestmark = pytest.mark.django_db


def test_the_default_rules_come_from_the_migration():
    rules = {r.state: r for r in TimeInStateRule.objects.filter(active=True)}
    assert {state: r.name for state, r in rules.items()} == DEFAULTS
    assert rules["order.unfulfilled"].max_age_hours == 48
    assert rules["shipment.label_unscanned"].max_age_hours == settings.WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS
    assert rules["return.received_unresolved"].max_age_hours == settings.WAYBILL_RETURN_UNRESOLVED_ALERT_HOURS
    for state in ("ticket.first_reply", "ticket.waiting_on_us", "return.defective_unit_not_back"):
        assert rules[state].uses_due_time  # their own due time: the SLA target, the date the unit is due back
    assert all(r.notify_staff_list and not r.business_hours for r in rules.values())


def test_an_order_not_shipped_48_hours_after_it_was_placed(customer, staff_list):
    only("order.unfulfilled")
    # given an order placed now and one placed 47 hours later
    stale = place_order(customer=customer)
    with travel(hours_later(47)):
        fresh = place_order(customer=customer)
    # when the rules run 49 hours from now, twice
    at = hours_later(49)
    assert evaluate(now=at) == {DEFAULTS["order.unfulfilled"]: (1, 0)}
    assert evaluate(now=at) == {}
    # then one alert, about the old order
    (alert,) = alerts("order.unfulfilled_alert")
    assert alert.subject_id == str(stale.pk)
    assert alert.payload["title"].startswith(f"Order {stale.number} not yet shipped in full for 49 h")
    assert alert.payload["link"] == f"/admin/orders/order/{stale.pk}/change/"
    assert alert.staff_recipients is None  # the staff alert list, read when it is sent
    assert list(open_breaches().values_list("object_id", flat=True)) == [stale.pk]
    assert fresh.pk not in open_breaches().values_list("object_id", flat=True)


def test_a_label_the_carrier_never_scanned(packed_order, local, staff_list, mailoutbox,
                                           django_capture_on_commit_callbacks):
    only("shipment.label_unscanned")
    # given one label created 50 hours ago and never scanned, and one created an hour ago
    a, b = line(packed_order, "SKU-A"), line(packed_order, "SKU-B")
    stale = shipment_create(order=packed_order.number, warehouse=wh("NORTH"), items=[(a.pk, 3), (b.pk, 1)])
    fresh = shipment_create(order=packed_order.number, warehouse=wh("SOUTH"), items=[(b.pk, 1)])
    for shipment in (stale, fresh):
        for name in ("pick", "pack"):
            shipment_transition(shipment=shipment.pk, name=name)
        shipment_transition(shipment=shipment.pk, name="create_label", carrier=local)
    Shipment.objects.filter(pk=stale.pk).update(label_created_at=timezone.now() - timedelta(hours=50))
    Shipment.objects.filter(pk=fresh.pk).update(label_created_at=timezone.now() - timedelta(hours=1))
    mailoutbox.clear()

    # when the periodic task runs twice
    with django_capture_on_commit_callbacks(execute=True):
        first = time_in_state_evaluate_task()
    second = time_in_state_evaluate_task()

    # then staff got exactly one alert, about the stale label, linking to it
    name = DEFAULTS["shipment.label_unscanned"]
    assert (first[name], second[name]) == ({"opened": 1, "closed": 0}, {"opened": 0, "closed": 0})
    (alert,) = [m for m in mailoutbox if m.to == ["ops@example.com"]]
    assert f"shipment {stale.pk}" in alert.subject
    assert f"/admin/shipping/shipment/{stale.pk}/change/" in alert.body
    assert Shipment.objects.get(pk=stale.pk).tracking_number in alert.body
    assert alerts("shipment.scan_overdue").get().subject_id == str(packed_order.pk)


def test_a_return_received_and_not_resolved(delivered, agent_user, staff_user, staff_list):
    only("return.received_unresolved")
    rr = case_return(delivered)
    return_approve(return_request=rr.number, actor=agent_user)
    return_receive(return_request=rr.number, actor=staff_user)
    later = hours_later(settings.WAYBILL_RETURN_UNRESOLVED_ALERT_HOURS + 1)
    assert evaluate() == {}  # just received
    assert evaluate(now=later) == {DEFAULTS["return.received_unresolved"]: (1, 0)}
    assert evaluate(now=later) == {}
    alert = alerts("return.unresolved_alert").get()
    assert rr.number in alert.payload["title"] and alert.payload["link"].endswith(f"/{rr.pk}/change/")
    assert alert.payload["title"] == f"Return {rr.number} received 73 h ago and not resolved"
    # and the return's timeline says so, for staff
    entry = ReturnEvent.objects.get(return_request=rr, kind=ReturnEvent.Kind.ALERT)
    assert entry.internal and entry.text == alert.payload["title"] + "."


def test_the_faulty_unit_of_an_advance_replacement_not_back_by_its_due_date(delivered, agent_user, staff_list):
    only("return.defective_unit_not_back")
    late = return_create(order=delivered, resolution="replacement", lines=[
        {"line": order_line(delivered, "PH-1").pk, "quantity": 1, "reason": "defective", "serial": IMEI_SOLD}])
    return_approve(return_request=late.number, actor=agent_user, handling="advance_replacement")
    assert evaluate() == {}  # due back in WAYBILL_ADVANCE_REPLACEMENT_DAYS
    on_time = case_return(delivered, qty=1, reason="defective", resolution="replacement")
    return_approve(return_request=on_time.number, actor=agent_user, handling="advance_replacement")
    ReturnRequest.objects.filter(pk=late.pk).update(item_due_by=timezone.localdate() - timedelta(days=1))
    ReturnRequest.objects.filter(pk=on_time.pk).update(item_due_by=timezone.localdate())  # due today: not late yet
    assert evaluate() == {DEFAULTS["return.defective_unit_not_back"]: (1, 0)}
    assert evaluate() == {}
    alert = alerts("return.item_overdue_alert").get()
    assert alert.payload["title"] == f"Faulty item of return {late.number} not back"
    assert alert.subject_id == str(late.pk)


def test_tickets_past_their_sla_in_working_hours(customer, desk, agents, staff_list):
    only("ticket.first_reply", "ticket.waiting_on_us")
    ann, _ = agents
    first, resolution = DEFAULTS["ticket.first_reply"], DEFAULTS["ticket.waiting_on_us"]
    # given an urgent ticket on Monday at 9:00 (a first reply within 30 min, resolved within 4 h) and a normal one
    # at noon (4 h for the first reply)
    with travel("2026-12-07 09:00 +01:00"):
        urgent = ticket_open(subject="Urgent", body="Nothing works.", customer=customer, priority="urgent",
                             notify=False)
    with travel("2026-12-07 12:00 +01:00"):
        normal = ticket_open(subject="Question", body="When?", customer=customer, notify=False)
    with travel("2026-12-07 09:31 +01:00"):
        assert evaluate() == {first: (1, 0)}
        ticket_reply(ticket=urgent, author=ann, body="Looking into it.", then="open")
    with travel("2026-12-07 12:59 +01:00"):
        assert evaluate() == {first: (0, 1)}  # answered: the first-reply breach is closed
    with travel("2026-12-07 13:01 +01:00"):
        assert evaluate() == {resolution: (1, 0)}
        assert evaluate() == {}
    breached = alerts("ticket.sla_breached")
    assert [m.subject_id for m in breached] == [str(urgent.pk), str(urgent.pk)]
    assert [m.payload["target"] for m in breached] == ["first_response", "resolution"]
    assert breached.last().payload["title"].startswith(f"SLA breached: {urgent.number} resolution was due Mon 07 Dec")
    assert urgent.events.filter(kind="sla", data__level="breached").count() == 2
    assert not alerts("ticket.sla_breached").filter(subject_id=str(normal.pk)).exists()


def test_a_ticket_past_its_sla_in_calendar_hours_but_not_in_working_hours(customer, desk, agents, staff_list):
    only("ticket.waiting_on_us")
    ann, _ = agents
    # given an urgent ticket on Friday at 16:00 with a first reply: 1 working hour on Friday, 3 on Monday
    with travel("2026-12-04 16:00 +01:00"):
        ticket = ticket_open(subject="Urgent", body="Nothing works.", customer=customer, priority="urgent",
                             notify=False)
        ticket_reply(ticket=ticket, author=ann, body="On it.", then="open")
    # when the rules run on Saturday and on Monday morning (past 4 calendar hours, not 4 working hours)
    for moment in ("2026-12-05 12:00 +01:00", "2026-12-07 11:59 +01:00"):
        with travel(moment):
            assert evaluate() == {}
    # then only past 4 working hours, Monday at 12:00
    with travel("2026-12-07 12:00 +01:00"):
        assert evaluate() == {DEFAULTS["ticket.waiting_on_us"]: (1, 0)}
    assert alerts("ticket.sla_breached").count() == 1
