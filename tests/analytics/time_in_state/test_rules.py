"""How a time-in-state rule counts and whom it tells: working hours, a breach closed when the object moves on, a
new breach when it comes back, the alerts the apps raised before the rules, the rule's recipients."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from analytics.models import Breach, TimeInStateRule
from analytics.time_in_state.selectors import breach_list_open, rule_recipients
from analytics.time_in_state.services import rule_evaluate
from notifications.services import notification_emit
from orders.services import order_transition
from returns.services import return_approve, return_receive
from shipping.models import Shipment
from shipping.services import shipment_create_all, shipment_transition
from support.models import Holiday
from tests.factories import StaffFactory, place_order
from tests.returns.test_resolutions import case_return

from .conftest import DEFAULTS, alerts, evaluate, only, open_breaches, rule, travel

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str):
    return timezone.datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def on_hold_rule(**fields) -> TimeInStateRule:
    return TimeInStateRule.objects.create(**{"name": "On hold over a day", "state": "order.on_hold",
                                             "max_age_hours": 24, **fields})


def test_working_hours_a_return_received_on_friday_afternoon(delivered, agent_user, staff_user, desk, staff_list):
    # given returns must be inspected and resolved within 8 working hours (Berlin, Monday to Friday 9 to 17)
    only()
    calendar, _ = desk
    Holiday.objects.create(calendar=calendar, date=date(2026, 12, 7), name="Stocktaking")
    working = TimeInStateRule.objects.create(name="Returns within a working day", state="return.received_unresolved",
                                             max_age_hours=8, business_hours=True)
    rr = case_return(delivered)
    return_approve(return_request=rr.number, actor=agent_user)
    with travel(berlin("2026-12-04T16:00")):  # a Friday
        return_receive(return_request=rr.number, actor=staff_user)
    # when the rules run on Tuesday morning: 88 hours later, 1 working hour (Friday 16-17; Monday is a holiday)
    assert evaluate(now=berlin("2026-12-08T08:00")) == {}
    # and on Tuesday 15:59: 7 h 59 min of working time
    assert evaluate(now=berlin("2026-12-08T15:59")) == {}
    # then at 16:00 it is 8 working hours
    assert evaluate(now=berlin("2026-12-08T16:00")) == {working.name: (1, 0)}
    breach = open_breaches().get()
    assert (breach.entered_at, breach.due_at) == (berlin("2026-12-04T16:00"), berlin("2026-12-08T16:00"))
    alert = alerts("return.unresolved_alert").get()
    assert timezone.datetime.fromisoformat(alert.payload["due_at"]) == berlin("2026-12-08T16:00")
    # the same rule counting every hour would have alerted on Saturday already
    TimeInStateRule.objects.filter(pk=working.pk).update(business_hours=False, name="Every hour")
    Breach.objects.all().delete()
    assert evaluate(now=berlin("2026-12-05T00:01")) == {"Every hour": (1, 0)}


def test_a_breach_closes_when_the_object_moves_on_and_a_new_entry_is_a_new_breach(customer, staff_list):
    only()
    held = on_hold_rule()
    start = timezone.now()
    order = place_order(customer=customer)
    order_transition(order=order.number, name="hold", reason="Address check", check_permission=False)
    # a day and an hour on hold: one breach, one alert
    assert evaluate(now=start + timedelta(hours=25)) == {held.name: (1, 0)}
    first = open_breaches().get()
    assert first.label == f"Order {order.number}" and first.entered_at <= start + timedelta(minutes=1)
    # released: the breach closes at the run that sees it
    with travel(start + timedelta(hours=26)):
        order_transition(order=order.number, name="release", check_permission=False)
    assert evaluate(now=start + timedelta(hours=27)) == {held.name: (0, 1)}
    first.refresh_from_db()
    assert first.closed_at == start + timedelta(hours=27)
    assert list(breach_list_open()) == []
    # held again later: a new entry into the state, so a new breach and a new alert once it is a day old
    with travel(start + timedelta(hours=30)):
        order_transition(order=order.number, name="hold", reason="Fraud check", check_permission=False)
    assert evaluate(now=start + timedelta(hours=50)) == {}
    assert evaluate(now=start + timedelta(hours=55)) == {held.name: (1, 0)}
    assert evaluate(now=start + timedelta(hours=56)) == {}
    second = open_breaches().get()
    assert second.pk != first.pk and second.entered_at == start + timedelta(hours=30)
    assert alerts("time_in_state.breached").count() == 2
    assert Breach.objects.filter(rule=held).count() == 2


def test_an_object_that_moves_within_the_state_stays_one_breach(customer, staff_list):
    # given orders are "not shipped in full" from placed to partially shipped, holds included
    only("order.unfulfilled")
    order = place_order(customer=customer)
    start = timezone.now()
    assert evaluate(now=start + timedelta(hours=49)) == {DEFAULTS["order.unfulfilled"]: (1, 0)}
    # when it is confirmed and put on hold (still not shipped), the breach stays open and nobody is alerted again
    with travel(start + timedelta(hours=50)):
        order_transition(order=order.number, name="confirm", check_permission=False)
        order_transition(order=order.number, name="hold", reason="Stock check", check_permission=False)
    assert evaluate(now=start + timedelta(hours=51)) == {}
    assert alerts("order.unfulfilled_alert").count() == 1
    # when it is cancelled it has moved on
    with travel(start + timedelta(hours=52)):
        order_transition(order=order.number, name="release", check_permission=False)
        order_transition(order=order.number, name="cancel", reason="Out of stock", check_permission=False)
    assert evaluate(now=start + timedelta(hours=53)) == {DEFAULTS["order.unfulfilled"]: (0, 1)}


def test_an_alert_the_app_raised_before_the_rules_is_not_raised_again(packed_order, local, staff_list):
    only("shipment.label_unscanned")
    (shipment, *_) = shipment_create_all(order=packed_order.number, carrier=local)
    for name in ("pick", "pack", "create_label"):
        shipment_transition(shipment=shipment.pk, name=name)
    created = timezone.now() - timedelta(hours=60)
    Shipment.objects.filter(pk=shipment.pk).update(label_created_at=created)
    # given shipping's own check alerted about the label before the upgrade (its idempotency key)
    notification_emit(event="shipment.scan_overdue", subject=packed_order, payload={"title": "old"},
                      idempotency_key=f"shipment:{shipment.pk}:scan_overdue:{created.isoformat()}")
    # when the rule finds it: the breach is recorded (listed, closed later) and nobody is told twice
    assert evaluate() == {DEFAULTS["shipment.label_unscanned"]: (1, 0)}
    assert [m.payload["title"] for m in alerts("shipment.scan_overdue")] == ["old"]
    assert open_breaches().get().object_id == shipment.pk


def test_a_rule_alerts_its_group_and_people(customer, settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    only()
    leads = Group.objects.get(name="Support leads")
    lea = StaffFactory(username="lea", email="lea@example.com", group="Support leads")
    StaffFactory(username="gone", email="gone@example.com", group="Support leads", is_active=False)
    StaffFactory(username="mute", email="", group="Support leads")
    sam = StaffFactory(username="sam", email="sam@example.com")
    held = on_hold_rule(notify_staff_list=False, notify_group=leads)
    held.notify_users.add(sam, lea)
    assert rule_recipients(rule=held) == ["lea@example.com", "sam@example.com"]
    order = place_order(customer=customer)
    order_transition(order=order.number, name="hold", reason="Address check", check_permission=False)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        rule_evaluate(rule=held, now=timezone.now() + timedelta(hours=25))
    assert sorted(m.to[0] for m in mailoutbox) == ["lea@example.com", "sam@example.com"]
    assert f"Order {order.number} on hold" in mailoutbox[0].subject
    # with the staff alert list too
    TimeInStateRule.objects.filter(pk=held.pk).update(notify_staff_list=True)
    held.refresh_from_db()
    assert rule_recipients(rule=held) == ["ops@example.com", "lea@example.com", "sam@example.com"]
    # and only the list: left to the outbox, which reads WAYBILL_STAFF_ALERT_EMAILS when it sends
    TimeInStateRule.objects.filter(pk=held.pk).update(notify_group=None)
    held.notify_users.clear()
    assert rule_recipients(rule=TimeInStateRule.objects.get(pk=held.pk)) is None


def test_open_breaches_of_rules_turned_off_are_not_listed(customer, staff_list):
    only()
    held = on_hold_rule()
    order = place_order(customer=customer)
    order_transition(order=order.number, name="hold", reason="Address check", check_permission=False)
    evaluate(now=timezone.now() + timedelta(hours=25))
    assert [b.object_id for b in breach_list_open()] == [order.pk]
    TimeInStateRule.objects.filter(pk=held.pk).update(active=False)
    assert list(breach_list_open()) == []
    assert evaluate(now=timezone.now() + timedelta(hours=26)) == {}  # a rule turned off is not evaluated


def test_a_calendar_without_working_hours_skips_its_rule_and_not_the_others(delivered, agent_user, staff_user,
                                                                             desk, staff_list, caplog):
    only("return.received_unresolved")
    calendar, _ = desk
    calendar.working_hours.all().delete()
    TimeInStateRule.objects.create(name="Never", state="return.received_unresolved", max_age_hours=8,
                                   business_hours=True)
    rr = case_return(delivered)
    return_approve(return_request=rr.number, actor=agent_user)
    return_receive(return_request=rr.number, actor=staff_user)
    assert evaluate(now=timezone.now() + timedelta(hours=100)) == {DEFAULTS["return.received_unresolved"]: (1, 0)}
    assert "counts working hours of a calendar that has none" in caplog.text


def test_every_state_can_be_evaluated_in_both_modes(db):
    # each state's SQL runs (on an empty database: the shape of the query, not its findings)
    from analytics.time_in_state.states import STATES

    for key, state in STATES.items():
        for max_age in ([None, 1] if state.due else [1]):
            for business in ([False, True] if max_age else [False]):
                r = TimeInStateRule(name=f"{key} {max_age} {business}", state=key, max_age_hours=max_age,
                                    business_hours=business)
                r.full_clean()
                r.save()
                assert rule_evaluate(rule=r).opened == 0, key


def test_a_rule_needs_a_maximum_age_unless_the_state_has_a_due_time_of_its_own(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as err:
        TimeInStateRule(name="x", state="order.on_hold").full_clean()
    assert "max_age_hours" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        TimeInStateRule(name="y", state="ticket.waiting_on_us", business_hours=True).full_clean()
    assert "business_hours" in err.value.message_dict
    TimeInStateRule(name="z", state="ticket.waiting_on_us").full_clean()
    assert rule("ticket.waiting_on_us").uses_due_time


def test_time_of_day_helpers_agree(desk):
    # the threshold a run computes is the inverse of the due time a breach records
    from analytics.time_in_state.selectors import rule_clock

    working = TimeInStateRule.objects.create(name="w", state="order.on_hold", max_age_hours=10, business_hours=True)
    clock = rule_clock(rule=working, now=berlin("2026-12-08T10:30"))
    assert clock.threshold() == berlin("2026-12-04T16:30")  # Fri 16:30-17, Mon 9-17, Tue 9-10:30
    assert clock.due(clock.threshold()) == berlin("2026-12-08T10:30")
    assert clock.waited_hours(berlin("2026-12-07T09:00")) == 9  # Mon 9-17, Tue 9-10:30
