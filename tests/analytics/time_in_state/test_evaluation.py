"""The evaluation under load and at once: concurrent runs on real PostgreSQL raise exactly one alert per breach,
a run reads a bounded batch per query, and the periodic task is configured as exactly-once work needs."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from analytics.models import Breach, TimeInStateRule
from analytics.tasks import time_in_state_evaluate_task
from analytics.time_in_state.services import rule_evaluate, rules_evaluate
from config.celery import app
from notifications.models import OutboxMessage
from orders.services import order_transition
from support import calendar
from tests.factories import ProductFactory, place_order

from .conftest import DEFAULTS, only


def at_once(target, n: int) -> list:
    """Run `target` in `n` threads released together (each its own connection and transactions); what each
    returned or raised."""
    barrier, results = threading.Barrier(n), []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_raise_exactly_one_alert_per_breach(postgres, customer, settings):
    # given 24 orders placed long ago and still not shipped, and small batches so that the runs interleave
    settings.WAYBILL_TIME_IN_STATE_BATCH_SIZE = 5
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    only("order.unfulfilled")
    product = ProductFactory(stock=100)
    orders = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(24)]
    later = timezone.now() + timedelta(hours=49)
    # when four runs start at the same moment, twice over
    for _ in range(2):
        results = at_once(lambda: rules_evaluate(now=later), 4)
        assert not [r for r in results if isinstance(r, Exception)], results
    # then every order has one breach and one alert, whichever run raised it
    name = DEFAULTS["order.unfulfilled"]
    assert Breach.objects.filter(rule__name=name).count() == 24
    messages = OutboxMessage.objects.filter(event="order.unfulfilled_alert")
    assert sorted(messages.values_list("subject_id", flat=True)) == sorted(str(o.pk) for o in orders)
    assert messages.count() == 24


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_close_and_reopen_once(postgres, customer):
    only()
    held = TimeInStateRule.objects.create(name="Held", state="order.on_hold", max_age_hours=1)
    product = ProductFactory(stock=100)
    orders = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(6)]
    for order in orders:
        order_transition(order=order.number, name="hold", reason="Check", check_permission=False)
    at_once(lambda: rule_evaluate(rule=held, now=timezone.now() + timedelta(hours=2)), 3)
    for order in orders:
        order_transition(order=order.number, name="release", check_permission=False)
        order_transition(order=order.number, name="hold", reason="Check again", check_permission=False)
    results = at_once(lambda: rule_evaluate(rule=held, now=timezone.now() + timedelta(hours=3)), 3)
    assert sum(r.closed for r in results) == 6 and sum(r.opened for r in results) == 6
    assert Breach.objects.filter(rule=held, closed_at__isnull=True).count() == 6
    assert OutboxMessage.objects.filter(event="time_in_state.breached").count() == 12


@pytest.mark.django_db
def test_a_run_reads_a_bounded_batch_per_query(customer, django_assert_num_queries, django_assert_max_num_queries,
                                               settings):
    # given batches of 3 and 7 orders on hold too long: three batches open their breaches
    settings.WAYBILL_TIME_IN_STATE_BATCH_SIZE = 3
    only()
    held = TimeInStateRule.objects.create(name="Held", state="order.on_hold", max_age_hours=1)
    product = ProductFactory(stock=100)

    def hold(n):
        for _ in range(n):
            order = place_order(customer=customer, lines=[(product, 1)])
            order_transition(order=order.number, name="hold", reason="Check", check_permission=False)

    hold(7)
    later = timezone.now() + timedelta(hours=2)
    with django_assert_max_num_queries(40) as opening:
        assert rule_evaluate(rule=held, now=later).opened == 7
    scans = [q["sql"] for q in opening.captured_queries if q["sql"].startswith('SELECT "orders_order"."id", ')]
    assert len(scans) == 3 and all(sql.endswith("LIMIT 3") and "NOT (EXISTS" in sql for sql in scans)
    # when nothing is new the cost of a run does not grow with the open breaches (7, then 17)
    with django_assert_num_queries(8) as steady:  # closing: 2 reads + 1 update; recipients; jit off; the scan
        assert rule_evaluate(rule=held, now=later).opened == 0
    hold(10)
    assert rule_evaluate(rule=held, now=later + timedelta(hours=1), max_batches=10).opened == 10
    with django_assert_num_queries(len(steady.captured_queries)):
        assert rule_evaluate(rule=held, now=later + timedelta(hours=1)).opened == 0
    assert Breach.objects.filter(rule=held, closed_at__isnull=True).count() == 17


def test_the_task_is_exactly_once_work_run_by_beat():
    assert time_in_state_evaluate_task.acks_late and time_in_state_evaluate_task.reject_on_worker_lost
    schedule = settings.CELERY_BEAT_SCHEDULE["analytics-time-in-state"]
    assert schedule["task"] == time_in_state_evaluate_task.name and 0 < schedule["schedule"] <= 15 * 60
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert not tasks & {"shipping.tasks.shipment_alert_overdue_scans_task", "returns.tasks.return_alert_overdue_task"}
    assert time_in_state_evaluate_task.name in app.tasks


OFFICE = calendar.Hours(zone="Europe/Berlin", week={d: [(time(9), time(12)), (time(13), time(17))] for d in range(5)},
                        holidays=frozenset({datetime(2026, 12, 24).date()}))


@examples(deadline=None, max_examples=300)
@given(end=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
       minutes=st.integers(min_value=1, max_value=60 * 60))
def test_subtracting_working_minutes_is_the_inverse_of_adding_them(end, minutes):
    since = calendar.subtract_business_minutes(OFFICE, end, minutes)
    assert calendar.business_minutes_between(OFFICE, since, end) == pytest.approx(minutes)
    assert calendar.add_business_minutes(OFFICE, since, minutes) <= end
    # and it is the latest such instant: a second later is less than `minutes` before `end`
    assert calendar.business_minutes_between(OFFICE, since + timedelta(seconds=1), end) < minutes
