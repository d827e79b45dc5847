"""How long the notifications app keeps what it has done.

- Outbox messages whose every email and webhook delivery is finished (sent, skipped, failed, delivered),
  WAYBILL_RETENTION_OUTBOX_DAYS after they were processed; their notifications and deliveries go with them (the
  customer's Emails page shows that long a history).
- The log of webhook POSTs (WebhookAttempt), WAYBILL_RETENTION_WEBHOOK_ATTEMPT_DAYS after each POST.

Each purge deletes in bounded batches (config.retention); `retention_purge_task` runs them all from beat, with the
orders app's expired idempotency keys and django-axes' log of sign-ins (WAYBILL_RETENTION_LOGIN_LOG_DAYS).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.celery import app
from config.retention import delete_in_batches, login_log_purge
from orders.retention import idempotency_keys_purge

from .models import Notification, OutboxMessage, WebhookAttempt, WebhookDelivery

NOTIFICATION_UNFINISHED = [Notification.Status.PENDING, Notification.Status.SENDING, Notification.Status.RETRYING]
DELIVERY_UNFINISHED = [WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING,
                       WebhookDelivery.Status.RETRYING]


def outbox_messages_purge(*, older_than_days: int | None = None, batch_size: int | None = None,
                          max_batches: int | None = None) -> int:
    days = settings.WAYBILL_RETENTION_OUTBOX_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    unfinished_email = Notification.objects.filter(outbox=OuterRef("pk"), status__in=NOTIFICATION_UNFINISHED)
    unfinished_hook = WebhookDelivery.objects.filter(outbox=OuterRef("pk"), status__in=DELIVERY_UNFINISHED)
    finished = (OutboxMessage.objects.filter(processed_at__lt=cutoff)
                .exclude(Exists(unfinished_email)).exclude(Exists(unfinished_hook)))
    return delete_in_batches(finished, batch_size=batch_size, max_batches=max_batches)


def webhook_attempts_purge(*, older_than_days: int | None = None, batch_size: int | None = None,
                           max_batches: int | None = None) -> int:
    days = settings.WAYBILL_RETENTION_WEBHOOK_ATTEMPT_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    return delete_in_batches(WebhookAttempt.objects.filter(created_at__lt=cutoff), batch_size=batch_size,
                             max_batches=max_batches)


def retention_purge() -> dict[str, int]:
    return {
        "outbox_messages": outbox_messages_purge(),
        "webhook_attempts": webhook_attempts_purge(),
        "idempotency_keys": idempotency_keys_purge(),
        "login_log": login_log_purge(),
    }


@app.task(acks_late=True, reject_on_worker_lost=True)
def retention_purge_task() -> dict[str, int]:
    """Beat, hourly: old outbox rows, webhook attempts and idempotency keys, a bounded amount per run."""
    return retention_purge()
