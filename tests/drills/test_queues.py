"""Celery queues by kind of work: each kind of task lands on its own queue, and a stopped webhook worker does not
hold up customers' emails (real worker processes, `celery -A config worker --queues ...`, on a private Redis)."""

from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings
from django.db import transaction

from config.celery import app
from notifications.models import Notification, OutboxMessage, WebhookDelivery, WebhookEndpoint
from notifications.services import notification_emit, notification_resend, outbox_fan_out, outbox_sweep, publish_task
from notifications.webhooks import webhook_deliver_task
from orders.exports import export_job_start
from support.tasks import sla_alert_task
from tests.factories import CustomerFactory, ProductFactory, StaffFactory, place_order
from tests.notifications.conftest import WebhookReceiver, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def queued(url: str) -> dict[str, list[tuple[str, str]]]:
    """Every queue's waiting tasks, as (task name, its arguments), oldest first."""
    client = redis.Redis.from_url(url)
    out = {}
    for queue in settings.WAYBILL_CELERY_QUEUES:
        messages = [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]  # LPUSHed: newest first
        out[queue] = [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages]
    return out


def drain(url: str) -> None:
    redis.Redis.from_url(url).delete(*settings.WAYBILL_CELERY_QUEUES)


def emit(event: str, subject, **payload) -> OutboxMessage:
    with transaction.atomic():
        return notification_emit(event=event, subject=subject, payload=payload, idempotency_key=f"{event}:{subject.pk}")


def test_each_kind_of_task_lands_on_its_own_queue(drill_broker):
    url = drill_broker.url
    customer = CustomerFactory()
    product = ProductFactory(stock=10)
    # when an order is placed, stock runs low, an event only webhooks receive happens, an export is asked for
    order = place_order(customer=customer, lines=[(product, 1)])
    placed = OutboxMessage.objects.get(event="order.placed")
    alert = emit("stock.low", product, product_sku=product.sku, product_name=product.name, available=1, threshold=5)
    picking = emit("order.processing", order, order_number=order.number)
    export = export_job_start(params={}, actor=StaffFactory(group="Warehouse staff"))
    # and a webhook delivery and one of beat's scans are published
    assert publish_task(webhook_deliver_task, args=[4242])
    sla_alert_task.delay()
    # then each waits on the queue of its kind
    assert queued(url) == {
        "email": [("notifications.tasks.outbox_process_task", f"[{placed.pk}]")],
        "staff_alerts": [("notifications.tasks.outbox_process_task", f"[{alert.pk}]")],
        "webhooks": [("notifications.tasks.outbox_process_task", f"[{picking.pk}]"),
                     ("notifications.webhooks.webhook_deliver_task", "[4242]")],
        "bulk": [("orders.tasks.export_job_run_task", f"({export.pk},)")],
        "celery": [("support.tasks.sla_alert_task", "()")],
    }
    # analytics rollups (analytics.tasks.*) have their queue before they have tasks; the time-in-state scan, which
    # raises staff alerts as beat's other scans do, stays on the default queue
    assert app.amqp.router.route({}, "analytics.tasks.rollup_task")["queue"].name == "bulk"
    assert app.amqp.router.route({}, "analytics.tasks.time_in_state_evaluate_task")["queue"].name == "celery"


def test_sends_again_and_the_sweep_keep_to_the_queue_of_the_audience(drill_broker, settings):
    url = drill_broker.url
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com", "night-shift@example.com"]
    customer = CustomerFactory()
    product = ProductFactory(stock=10)
    place_order(customer=customer, lines=[(product, 1)])
    alert = emit("stock.low", product, product_sku=product.sku, product_name=product.name, available=1, threshold=5)
    for message in OutboxMessage.objects.order_by("pk"):
        outbox_fan_out(outbox_id=message.pk)
    drain(url)
    # when staff send a customer's email and a staff alert again
    customer_email = Notification.objects.get(audience="customer")
    staff_emails = list(Notification.objects.filter(audience="staff").order_by("pk").values_list("pk", flat=True))
    notification_resend(notification_ids=[customer_email.pk, *staff_emails])
    # then each goes back to its own queue
    sends = queued(url)
    assert sends["email"] == [("notifications.tasks.notification_send_task", f"[{customer_email.pk}]")]
    assert sends["staff_alerts"] == [("notifications.tasks.notification_send_task", f"[{pk}]") for pk in staff_emails]
    # and when the fast path lost an alert (no broker at commit), the sweep puts it on the staff alerts' queue
    drain(url)
    OutboxMessage.objects.filter(pk=alert.pk).update(dispatched_at=None, processed_at=None)
    outbox_sweep(grace_seconds=0)
    swept = queued(url)
    assert ("notifications.tasks.outbox_process_task", f"[{alert.pk}]") in swept["staff_alerts"]
    # (the emails sent again above are still pending: the sweep hands them on too, each to its own queue)
    assert ("notifications.tasks.notification_send_task", f"[{customer_email.pk}]") in swept["email"]
    assert not any(task == "notifications.tasks.notification_send_task" and args == f"[{customer_email.pk}]"
                   for task, args in swept["staff_alerts"])


@pytest.fixture
def webhook_receiver():
    with WebhookReceiver() as receiver:
        yield receiver


def test_a_stopped_webhook_worker_does_not_hold_up_customer_email(start_worker, drill_broker, smtp_sink,
                                                                   webhook_receiver):
    customer = CustomerFactory()
    WebhookEndpoint.objects.create(url=webhook_receiver.url, secret="queue-drill", event_types=["*"])
    # given workers for every queue but the webhooks' (its worker is stopped)
    start_worker(queues="email,staff_alerts,bulk,celery")
    # when customers place orders, each with a webhook to deliver too
    orders = [place_order(customer=customer) for _ in range(3)]
    # then every confirmation is sent
    wait_for(lambda: len(smtp_sink.to(customer.email)) == 3, timeout=60)
    # while the webhooks wait on their own queue, untouched
    wait_for(lambda: len(queued(drill_broker.url)["webhooks"]) == 3)
    assert webhook_receiver.requests == []
    assert WebhookDelivery.objects.filter(status="pending").count() == 3
    # when a webhook worker starts, it delivers them
    start_worker(queues="webhooks")
    wait_for(lambda: len(webhook_receiver.requests) == 3, timeout=60)
    delivered = {r["json"]["data"]["order_number"] for r in webhook_receiver.requests}
    assert delivered == {o.number for o in orders}
