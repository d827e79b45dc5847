"""The outbox relay (WAYBILL_OUTBOX_RELAY): a transaction that emits an event does no broker work; a relay process
hands new rows to the workers in batches, each row once however many relays run, and what waited while no relay
ran goes out when one starts again (real worker and relay processes on a private Redis, a real SMTP server)."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import threading

import pytest
from django.db import connection, transaction

from notifications.health import OutboxRelay
from notifications.models import Notification, OutboxMessage
from notifications.services import notification_emit, outbox_relay, outbox_relay_heartbeat
from notifications.tasks import SEND_LIMITS, notification_send_task, outbox_process_task
from tests.factories import CustomerFactory, ProductFactory, place_order
from tests.notifications.conftest import CLOSED_BROKER, use_broker, wait_for

from .conftest import ROOT, child_env, stop_process_group
from .test_queues import queued

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TASK = "notifications.tasks.outbox_process_task"


@pytest.fixture
def relayed(settings):
    settings.WAYBILL_OUTBOX_RELAY = True
    return settings


def batches(url: str) -> dict[str, list[list[int]]]:
    """The outbox ids each waiting fan-out task carries, by queue."""
    return {queue: [ast.literal_eval(args)[0] for name, args in tasks if name == TASK]
            for queue, tasks in queued(url).items()}


def emit_low_stock(product) -> OutboxMessage:
    with transaction.atomic():
        return notification_emit(event="stock.low", subject=product, idempotency_key=f"stock.low:{product.pk}",
                                 payload={"product_sku": product.sku, "product_name": product.name, "available": 1,
                                          "threshold": 5})


def test_with_the_relay_a_transaction_does_no_broker_work_and_one_task_carries_many_rows(drill_broker, relayed):
    url = drill_broker.url
    customer = CustomerFactory()
    product = ProductFactory(stock=10)
    # when three orders are placed and stock runs low
    orders = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(3)]
    alert = emit_low_stock(product)
    # then nothing reached the broker: the rows wait for the relay
    assert batches(url) == {queue: [] for queue in batches(url)}
    placed = list(OutboxMessage.objects.filter(event="order.placed").order_by("pk").values_list("pk", flat=True))
    assert len(placed) == len(orders)
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 4
    # when the relay makes a pass, two rows to a task
    done = outbox_relay(batch=2)
    # then every row went, in tasks of the queue of its audience, and is marked as handed over
    assert (done.claimed, done.sent) == (4, 4)
    waiting = batches(url)
    assert waiting["email"] == [placed[:2], placed[2:]]
    assert waiting["staff_alerts"] == [[alert.pk]]
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
    # and the next pass finds nothing
    assert outbox_relay() == (0, 0)


def test_four_relays_at_once_hand_each_row_over_exactly_once(drill_broker, relayed):
    product = ProductFactory(stock=10)
    with transaction.atomic():
        ids = [notification_emit(event="stock.low", subject=product, idempotency_key=f"stock.low:{i}",
                                 payload={"product_sku": product.sku, "available": 1}).pk for i in range(240)]
    failures = []

    def relay():
        try:
            while outbox_relay(limit=15, batch=4).claimed:
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    handed = [pk for batch in batches(drill_broker.url)["staff_alerts"] for pk in batch]
    assert sorted(handed) == sorted(ids)  # every row, none twice
    assert all(len(batch) <= 4 for batch in batches(drill_broker.url)["staff_alerts"])


def test_rows_the_broker_did_not_take_are_given_back_at_once(drill_broker, relayed):
    product = ProductFactory(stock=10)
    emit_low_stock(product)
    use_broker(CLOSED_BROKER)
    try:
        done = outbox_relay()
    finally:
        use_broker(drill_broker.url)
    assert (done.claimed, done.sent) == (1, 0)
    assert OutboxMessage.objects.get().dispatched_at is None  # the next pass (or the sweep) takes it again
    assert outbox_relay() == (1, 1)


def test_a_batch_sends_each_rows_email_and_hands_on_what_its_time_does_not_cover(relayed, postgres, monkeypatch,
                                                                                  mailoutbox):
    customer = CustomerFactory()
    product = ProductFactory(stock=10)
    orders = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(3)]
    ids = list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True))
    published = []
    monkeypatch.setattr("notifications.services.publish_task",
                        lambda task, *, args, **kw: published.append((task.name, args)) or True)
    # with time for the first email only: a budget that has run out sends nothing itself
    monkeypatch.setitem(SEND_LIMITS, "soft_time_limit", 0)
    outbox_process_task.apply(args=[ids])
    assert mailoutbox == []
    notifications = Notification.objects.order_by("outbox_id", "pk").values_list("pk", flat=True)
    assert published == [(notification_send_task.name, [pk]) for pk in notifications]
    assert len(published) == 3
    # with time enough, the task sends all three itself (another batch's rows), each once
    monkeypatch.setitem(SEND_LIMITS, "soft_time_limit", 60)
    published.clear()
    Notification.objects.all().delete()
    OutboxMessage.objects.update(processed_at=None)
    outbox_process_task.apply(args=[ids])
    outbox_process_task.apply(args=[ids])  # delivered twice: nothing more
    assert sorted(m.subject for m in mailoutbox) == sorted(f"We received your order {o.number}" for o in orders)
    assert published == []


def relay_process(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "outbox_relay", "--poll", "0.05"], cwd=ROOT, env=env,
                            stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)


def test_the_relay_process_sends_what_commits_and_after_a_crash_what_waited(drill_broker, start_worker, smtp_sink,
                                                                           relayed, tmp_path):
    start_worker()
    env = child_env(REDIS_URL=drill_broker.url, EMAIL_URL=f"smtp://127.0.0.1:{smtp_sink.port}")
    log = tmp_path / "relay.log"
    relay = relay_process(env, log)
    customer = CustomerFactory()
    product = ProductFactory(stock=10)
    try:
        # when orders are placed with a relay running, their confirmations go out
        first = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(3)]
        wait_for(lambda: len(smtp_sink.to(customer.email)) == 3, timeout=30)
        # when the relay is killed, orders placed meanwhile wait in the outbox
        stop_process_group(relay, sig=9)
        later = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(2)]
        waiting = OutboxMessage.objects.filter(subject_id__in=[str(o.pk) for o in later])
        assert waiting.filter(dispatched_at__isnull=True).count() == 2
        # when a relay starts again, they go out too
        relay = relay_process(env, log)
        wait_for(lambda: len(smtp_sink.to(customer.email)) == 5, timeout=30)
    finally:
        stop_process_group(relay)  # SIGTERM: it finishes its pass and stops
    assert relay.returncode == 0, log.read_text()[-2000:]
    assert "outbox relay stopped" in log.read_text()
    # then every order was confirmed exactly once
    subjects = sorted(m["Subject"] for m in smtp_sink.to(customer.email))
    assert subjects == sorted(f"We received your order {o.number}" for o in [*first, *later])


def test_health_warns_when_no_relay_is_heard_of(relayed, postgres):
    from django.core.cache import cache

    from notifications.services import RELAY_HEARTBEAT_KEY

    cache.delete(RELAY_HEARTBEAT_KEY)
    assert "no outbox relay has run" in str(asyncio.run(OutboxRelay().get_result()).error)
    outbox_relay_heartbeat()
    assert asyncio.run(OutboxRelay().get_result()).error is None
    cache.set(RELAY_HEARTBEAT_KEY, 0)
    assert "last heard of" in str(asyncio.run(OutboxRelay().get_result()).error)


@pytest.mark.parametrize("poll", ["0", "-1", "nan"])
def test_the_relay_refuses_a_poll_interval_that_would_spin(poll):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="above zero"):
        call_command("outbox_relay", "--poll", poll)
