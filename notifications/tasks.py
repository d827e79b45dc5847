"""Thin Celery tasks: ids in, a service call, a retry with backoff when the service asks for one.

Every task is safe to run twice: the rows they produce are unique and claimed with a conditional UPDATE.

Each task sends at most one email, so a time limit bounds one SMTP conversation: the hard limit (three quarters of
WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS) kills a send before its claim can be taken for a lost worker's.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError

from config.celery import app

from . import services
from .webhooks import webhook_deliver_task

SEND_LIMITS = {"soft_time_limit": settings.WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS / 2,
               "time_limit": settings.WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS * 3 / 4}
TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}
DB_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 2, "retry_backoff_max": 300, "retry_jitter": True,
            "max_retries": 8}

__all__ = ["notification_send_task", "outbox_process_task", "outbox_sweep_task", "webhook_deliver_task"]


def _schedule_retry(notification_id: int, result: services.SendResult) -> None:
    if not app.conf.task_always_eager:  # embedded mode: the sweep or a staff resend sends it later
        services.publish_task(notification_send_task, args=[notification_id], countdown=result.retry_in,
                              queue=result.queue)


@app.task(bind=True, **TASK_OPTIONS, **DB_RETRY, **SEND_LIMITS)
def outbox_process_task(self, outbox_id: int) -> dict:
    """Fan an outbox row out to its recipients and endpoints, send its first email here and hand the others
    (staff alerts to several addresses) to tasks of their own."""
    notification_ids, delivery_ids, queue = services.outbox_fan_out(outbox_id=outbox_id)
    results = {}
    if notification_ids:
        first, *others = notification_ids
        result = services.notification_send(notification_id=first)
        if result.retry_in is not None:
            _schedule_retry(first, result)
        results[first] = result.status
        for notification_id in others:
            services.publish_task(notification_send_task, args=[notification_id], queue=queue)
    for delivery_id in delivery_ids:  # routed to the webhooks queue
        services.publish_task(webhook_deliver_task, args=[delivery_id])
    return {"notifications": results, "webhooks": delivery_ids}


@app.task(bind=True, **TASK_OPTIONS, **DB_RETRY, **SEND_LIMITS)
def notification_send_task(self, notification_id: int) -> str:
    result = services.notification_send(notification_id=notification_id)
    if result.retry_in is not None:
        _schedule_retry(notification_id, result)
    return result.status


@app.task(**TASK_OPTIONS)
def outbox_sweep_task() -> dict:
    return services.outbox_sweep()
