"""Celery settings that exactly-once delivery relies on, and the retry schedule."""

from __future__ import annotations

from django.conf import settings

from config.celery import app
from notifications.services import retry_delay
from notifications.tasks import notification_send_task, outbox_process_task, outbox_sweep_task
from notifications.webhooks import webhook_deliver_task


def test_delivery_tasks_are_acked_late_and_requeued_when_a_worker_dies():
    for task in (outbox_process_task, notification_send_task, webhook_deliver_task, outbox_sweep_task):
        assert task.acks_late and task.reject_on_worker_lost, task.name
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost


def test_visibility_timeout_outlasts_the_longest_retry_delay():
    longest = max(retry_delay(attempt) for attempt in range(1, 30))
    assert longest <= settings.WAYBILL_NOTIFY_RETRY_MAX_SECONDS
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > settings.WAYBILL_NOTIFY_RETRY_MAX_SECONDS


def test_retry_delays_grow_exponentially_with_jitter():
    delays = [retry_delay(attempt, base=10, cap=900) for attempt in (1, 2, 3, 4)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = 10 * 2 ** (attempt - 1)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(retry_delay(3, base=10, cap=900), 6) for _ in range(20)}) > 1  # jitter
    assert retry_delay(20, base=10, cap=900) <= 900


def test_the_sweep_runs_from_the_beat_schedule():
    schedule = settings.CELERY_BEAT_SCHEDULE["notifications-outbox-sweep"]
    assert schedule["task"] == outbox_sweep_task.name
    assert 0 < schedule["schedule"] <= 60


def test_publishing_never_reuses_a_pool_made_for_other_broker_settings():
    from notifications.services import _fail_fast_pool, publish_pools_reset

    previous = app.conf.broker_transport_options
    try:
        first = _fail_fast_pool(app)
        assert _fail_fast_pool(app) is first
        # when the key prefix (or any transport option) changes, publishing gets a pool made with the new one
        app.conf.broker_transport_options = {**previous, "global_keyprefix": "another-checkout:"}
        assert _fail_fast_pool(app) is not first
    finally:
        app.conf.broker_transport_options = previous
        publish_pools_reset()
