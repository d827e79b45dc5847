"""Thin Celery tasks: ids in, a service call, a retry with backoff when the service asks for one.

Every task is safe to run twice: the rows they produce are unique and claimed with a conditional UPDATE.
"""

from __future__ import annotations

from django.db import DatabaseError

from config.celery import app

from . import services
from .webhooks import webhook_deliver_task

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}
DB_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 2, "retry_backoff_max": 300, "retry_jitter": True,
            "max_retries": 8}

__all__ = ["notification_send_task", "outbox_process_task", "outbox_sweep_task", "webhook_deliver_task"]


def _schedule_retry(notification_id: int, countdown: float) -> None:
    if not app.conf.task_always_eager:  # embedded mode: the sweep or a staff resend sends it later
        services.publish_task(notification_send_task, args=[notification_id], countdown=countdown)


@app.task(bind=True, **TASK_OPTIONS, **DB_RETRY)
def outbox_process_task(self, outbox_id: int) -> dict:
    """Fan an outbox row out to its recipients and endpoints, then send its emails."""
    notification_ids, delivery_ids = services.outbox_fan_out(outbox_id=outbox_id)
    results = {}
    for notification_id in notification_ids:
        result = services.notification_send(notification_id=notification_id)
        if result.retry_in is not None:
            _schedule_retry(notification_id, result.retry_in)
        results[notification_id] = result.status
    for delivery_id in delivery_ids:
        services.publish_task(webhook_deliver_task, args=[delivery_id])
    return {"notifications": results, "webhooks": delivery_ids}


@app.task(bind=True, **TASK_OPTIONS, **DB_RETRY)
def notification_send_task(self, notification_id: int) -> str:
    result = services.notification_send(notification_id=notification_id)
    if result.retry_in is not None:
        _schedule_retry(notification_id, result.retry_in)
    return result.status


@app.task(**TASK_OPTIONS)
def outbox_sweep_task() -> dict:
    return services.outbox_sweep()
