"""The Celery queue of each notification task (config/settings/base.py: CELERY_TASK_QUEUES and its routes).

A customer's email, a staff alert and a webhook-only event run through the same tasks (`outbox_process_task` fans
an event out, `notification_send_task` sends one email), so a static route cannot tell them apart: whoever
publishes one of them names its queue with these, from the event's or the notification's audience. A webhook
worker that is stopped (or an endpoint that hangs) then never holds up a customer's email, and staff alerts keep
flowing when customers' emails back up.
"""

from __future__ import annotations

from . import registry

EMAIL = "email"
STAFF_ALERTS = "staff_alerts"
WEBHOOKS = "webhooks"


def for_event(event: str) -> str:
    """The queue that fans `event` out (and sends its first email)."""
    try:
        audience = registry.get_event(event).audience
    except registry.UnknownEvent:
        return WEBHOOKS  # fanned out to webhooks only (notifications.services.outbox_fan_out)
    return {registry.CUSTOMER: EMAIL, registry.STAFF: STAFF_ALERTS}.get(audience, WEBHOOKS)


def for_audience(audience: str) -> str:
    """The queue that sends (and retries) a Notification of this audience."""
    return STAFF_ALERTS if audience == registry.STAFF else EMAIL
