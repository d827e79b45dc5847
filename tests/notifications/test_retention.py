"""Old rows are purged in bounded batches: finished outbox messages, webhook attempts, expired idempotency keys;
nothing still being sent is ever touched."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification, OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.retention import outbox_messages_purge, retention_purge_task, webhook_attempts_purge
from orders.models import IdempotentResponse
from orders.retention import idempotency_keys_purge
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

_seq = iter(range(10**6))


def message(*, processed_days_ago: float | None, email_status: str = Notification.Status.SENT,
            hook_status: str | None = None) -> OutboxMessage:
    n = next(_seq)
    outbox = OutboxMessage.objects.create(event="order.placed", idempotency_key=f"retention-{n}")
    if processed_days_ago is not None:
        OutboxMessage.objects.filter(pk=outbox.pk).update(
            processed_at=timezone.now() - timedelta(days=processed_days_ago))
    Notification.objects.create(outbox=outbox, event="order.placed", audience=Notification.Audience.CUSTOMER,
                                recipient=f"c{n}@example.com", status=email_status)
    if hook_status:
        endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/x", secret="s", event_types=["*"])
        WebhookDelivery.objects.create(outbox=outbox, endpoint=endpoint, event="order.placed", status=hook_status)
    return outbox


def test_finished_outbox_messages_past_their_age_are_purged_with_their_rows(settings):
    settings.WAYBILL_RETENTION_OUTBOX_DAYS = 30
    old_sent = message(processed_days_ago=40)
    old_skipped = message(processed_days_ago=40, email_status=Notification.Status.SKIPPED,
                          hook_status=WebhookDelivery.Status.DELIVERED)
    recent = message(processed_days_ago=10)
    still_retrying = message(processed_days_ago=40, email_status=Notification.Status.RETRYING)
    hook_pending = message(processed_days_ago=40, hook_status=WebhookDelivery.Status.RETRYING)
    never_processed = message(processed_days_ago=None, email_status=Notification.Status.PENDING)

    assert outbox_messages_purge() == 2

    left = set(OutboxMessage.objects.values_list("pk", flat=True))
    assert left == {recent.pk, still_retrying.pk, hook_pending.pk, never_processed.pk}
    assert not Notification.objects.filter(outbox__in=[old_sent.pk, old_skipped.pk]).exists()


def test_a_purge_works_in_bounded_batches_and_the_next_run_goes_on(settings):
    settings.WAYBILL_RETENTION_OUTBOX_DAYS = 30
    for _ in range(5):
        message(processed_days_ago=40)

    # given batches of 2 and at most 2 batches per run: one run deletes 4, the next the last one
    assert outbox_messages_purge(batch_size=2, max_batches=2) == 4
    assert OutboxMessage.objects.count() == 1
    assert outbox_messages_purge(batch_size=2, max_batches=2) == 1
    assert OutboxMessage.objects.count() == 0


def test_webhook_attempts_are_purged_after_their_age(settings):
    settings.WAYBILL_RETENTION_WEBHOOK_ATTEMPT_DAYS = 7
    outbox = message(processed_days_ago=1, hook_status=WebhookDelivery.Status.DELIVERED)
    delivery = outbox.webhook_deliveries.get()
    old = [WebhookAttempt.objects.create(delivery=delivery, status_code=500, response_ms=30) for _ in range(3)]
    WebhookAttempt.objects.filter(pk__in=[a.pk for a in old]).update(created_at=timezone.now() - timedelta(days=8))
    fresh = WebhookAttempt.objects.create(delivery=delivery, status_code=200, response_ms=20)

    assert webhook_attempts_purge(batch_size=2) == 3
    assert list(WebhookAttempt.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert WebhookDelivery.objects.filter(pk=delivery.pk).exists()


def test_expired_idempotency_keys_are_purged_in_batches(settings):
    settings.WAYBILL_IDEMPOTENCY_TTL_HOURS = 24
    owner = CustomerFactory()
    for i in range(3):
        IdempotentResponse.objects.create(owner=owner, key=f"old-{i}", fingerprint="x", status_code=201, body={})
    IdempotentResponse.objects.update(created_at=timezone.now() - timedelta(hours=25))
    IdempotentResponse.objects.create(owner=owner, key="new", fingerprint="x", status_code=201, body={})

    assert idempotency_keys_purge(batch_size=2, max_batches=1) == 2
    assert idempotency_keys_purge(batch_size=2, max_batches=1) == 1
    assert list(IdempotentResponse.objects.values_list("key", flat=True)) == ["new"]


def test_beat_runs_one_task_for_all_of_it(settings):
    from config.celery import app

    settings.WAYBILL_RETENTION_OUTBOX_DAYS = 30
    message(processed_days_ago=40)
    entry = settings.CELERY_BEAT_SCHEDULE["retention-purge"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks

    result = retention_purge_task.delay().get()

    assert result == {"outbox_messages": 1, "webhook_attempts": 0, "idempotency_keys": 0, "login_log": 0}


def test_the_sign_in_log_is_purged_after_its_age(settings):
    from axes.models import AccessLog

    from config.retention import login_log_purge

    settings.WAYBILL_RETENTION_LOGIN_LOG_DAYS = 90
    old = AccessLog.objects.create(username="ada", ip_address="203.0.113.1", user_agent="x", path_info="/")
    AccessLog.objects.filter(pk=old.pk).update(attempt_time=timezone.now() - timedelta(days=91))
    recent = AccessLog.objects.create(username="ada", ip_address="203.0.113.1", user_agent="x", path_info="/")

    assert login_log_purge() == 1
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [recent.pk]
