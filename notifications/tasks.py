"""Thin Celery tasks: ids in, a service call, a retry with backoff when the service asks for one.

Every task is safe to run twice: the rows they produce are unique and claimed with a conditional UPDATE.

A send task sends one email, and a fan-out sends its batch's first emails only while the first half of its soft
limit lasts, so the hard limit (three quarters of WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS) kills a send before its
claim can be taken for a lost worker's: every claim a task takes is younger than the task.
"""

from __future__ import annotations

import time

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
def outbox_process_task(self, outbox_id: int | list[int]) -> dict:
    """Fan outbox rows out to their recipients and endpoints: one row (published after its commit) or a batch (the
    relay's). Each row's first email is sent here, one after another while the first half of the soft time limit
    lasts; the rest of a batch's first emails, further emails of a row (staff alerts to several addresses) and
    webhook deliveries go to tasks of their own.

    Several sends in one task stay safe: the hard time limit bounds the whole task, so every claim taken in it is
    younger than WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS when the task could be killed."""
    outbox_ids = outbox_id if isinstance(outbox_id, list) else [outbox_id]
    budget_ends = time.monotonic() + SEND_LIMITS["soft_time_limit"] / 2
    results, deliveries = {}, []
    for one in outbox_ids:
        notification_ids, delivery_ids, queue = services.outbox_fan_out(outbox_id=one)
        if notification_ids:
            first, *others = notification_ids
            if time.monotonic() < budget_ends:
                result = services.notification_send(notification_id=first)
                if result.retry_in is not None:
                    _schedule_retry(first, result)
                results[first] = result.status
            else:
                others = notification_ids
            for notification_id in others:
                services.publish_task(notification_send_task, args=[notification_id], queue=queue)
        deliveries += delivery_ids
    for delivery_id in deliveries:  # routed to the webhooks queue
        services.publish_task(webhook_deliver_task, args=[delivery_id])
    return {"notifications": results, "webhooks": deliveries}


@app.task(bind=True, **TASK_OPTIONS, **DB_RETRY, **SEND_LIMITS)
def notification_send_task(self, notification_id: int) -> str:
    result = services.notification_send(notification_id=notification_id)
    if result.retry_in is not None:
        _schedule_retry(notification_id, result)
    return result.status


@app.task(**TASK_OPTIONS)
def outbox_sweep_task() -> dict:
    return services.outbox_sweep()
