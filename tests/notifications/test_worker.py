"""Delivery through a real Celery worker on real Redis, including a broker outage."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from notifications.models import Notification, OutboxMessage
from notifications.services import outbox_sweep, publish_task
from notifications.tasks import notification_send_task, outbox_process_task
from tests.factories import CustomerFactory, ProductFactory, place_order

from .conftest import CLOSED_BROKER, mails_to, running_worker, use_broker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_delivers_the_confirmation(worker):
    customer = CustomerFactory()
    # when an order is placed (the commit hands the outbox row to Redis)
    order = place_order(customer=customer)
    # then the worker sends the email
    (message,) = wait_for(lambda: mails_to(customer.email))
    assert order.number in message.subject
    notification = wait_for(lambda: Notification.objects.filter(status="sent").first())
    assert notification.attempts == 1
    assert OutboxMessage.objects.get().processed_at is not None


def test_a_task_delivered_twice_sends_once(worker, task_runs):
    customer = CustomerFactory()
    # given an order whose outbox task is also published twice more, racing the first on two worker threads
    order = place_order(customer=customer)
    outbox_id = OutboxMessage.objects.get().pk
    assert publish_task(outbox_process_task, args=[outbox_id])
    assert publish_task(outbox_process_task, args=[outbox_id])
    notification = wait_for(lambda: Notification.objects.filter(status="sent").first())
    # and the send task itself is redelivered
    assert publish_task(notification_send_task, args=[notification.pk])
    assert publish_task(notification_send_task, args=[notification.pk])
    # when the worker has run all five
    wait_for(lambda: task_runs.of(outbox_process_task) == 3 and task_runs.of(notification_send_task) == 2)
    # then exactly one email went out
    assert [m.subject for m in mails_to(customer.email)] == [f"We received your order {order.number}"]
    assert Notification.objects.get().attempts == 1


def test_orders_placed_while_redis_is_down_are_confirmed_once_it_is_back(broker, django_db_blocker, task_runs):
    customer = CustomerFactory()
    product = ProductFactory(stock=100)
    # given the broker is unreachable
    use_broker(CLOSED_BROKER)
    # when customers place orders, each succeeds without hanging
    orders = []
    for _ in range(5):
        started = time.perf_counter()
        orders.append(place_order(customer=customer, lines=[(product, 1)]))
        assert time.perf_counter() - started < 2.0  # a hang guard; the bench measures real latency
    assert mail.outbox == []
    assert OutboxMessage.objects.filter(processed_at__isnull=True, dispatched_at__isnull=True).count() == 5
    # when Redis is back, a worker runs and the periodic sweep relays the backlog
    use_broker(broker)
    with running_worker(django_db_blocker):
        assert outbox_sweep(grace_seconds=0)["outbox"] == 5
        wait_for(lambda: task_runs.of(outbox_process_task) == 5)
        # a second sweep has nothing left to do
        assert outbox_sweep(grace_seconds=0) == {"outbox": 0, "notifications": 0, "webhooks": 0, "uncertain": 0}
    # then every confirmation arrived exactly once
    subjects = sorted(m.subject for m in mails_to(customer.email))
    assert subjects == sorted(f"We received your order {o.number}" for o in orders)
    assert Notification.objects.filter(status="sent").count() == 5


def during_messages(orders):
    return OutboxMessage.objects.filter(event="order.placed", subject_id__in=[str(o.pk) for o in orders])


def test_redis_dropping_out_mid_traffic_loses_nothing_and_sends_nothing_twice(broker, worker, task_runs):
    from urllib.parse import urlsplit

    from tests.tcplink import CuttableLink

    # given producers that reach Redis through a link we can cut (the worker keeps its own connection)
    real = urlsplit(broker)
    proxy = CuttableLink(real.port or 6379).start()
    use_broker(f"redis://127.0.0.1:{proxy.port}{real.path}")
    try:
        customer = CustomerFactory()
        product = ProductFactory(stock=100)
        before = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(2)]
        wait_for(lambda: len(mails_to(customer.email)) == 2)
        # when Redis becomes unreachable after the pooled connections were established
        proxy.cut()
        during = []
        for _ in range(4):
            started = time.perf_counter()
            during.append(place_order(customer=customer, lines=[(product, 1)]))
            assert time.perf_counter() - started < 2.0  # a hang guard
        # none of them reached the queue: each was given back to the sweep at once
        assert during_messages(during).filter(dispatched_at__isnull=True).count() == 4
        assert task_runs.of(outbox_process_task) == 2
        assert len(mails_to(customer.email)) == 2
        # and comes back: the next commit gets through on a fresh connection, the sweep relays the backlog
        proxy.restore()
        after = place_order(customer=customer, lines=[(product, 1)])
        wait_for(lambda: len(mails_to(customer.email)) == 3)
        assert outbox_sweep(grace_seconds=0)["outbox"] == 4
        wait_for(lambda: task_runs.of(outbox_process_task) == 7)
        assert len(mails_to(customer.email)) == 7
        assert outbox_sweep(grace_seconds=0) == {"outbox": 0, "notifications": 0, "webhooks": 0, "uncertain": 0}
    finally:
        proxy.close()
    # then every order was confirmed exactly once
    subjects = sorted(m.subject for m in mails_to(customer.email))
    assert subjects == sorted(f"We received your order {o.number}" for o in [*before, *during, after])
