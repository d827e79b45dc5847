"""Outgoing webhooks: a signed JSON POST per (outbox message, endpoint), retried with backoff, logged.

Signature: header `Waybill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's
secret>`. Receivers check it with `verify_signature()` (or its equivalent) and reject old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.celery import app

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Waybill-Signature"
DEFAULT_TOLERANCE = 300  # seconds


def sign(*, body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(*, body: bytes, header: str, secret: str, tolerance: int = DEFAULT_TOLERANCE,
                     now: float | None = None) -> bool:
    """True when `header` is a valid Waybill-Signature of `body` made with `secret` within `tolerance` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        timestamp = int(parts["t"])
    except (KeyError, ValueError, AttributeError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(body=body, secret=secret, timestamp=timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, value) for key, value in
               (item.split("=", 1) for item in header.split(",") if "=" in item) if key == "v1")


def delivery_body(delivery: WebhookDelivery) -> bytes:
    message = delivery.outbox
    document = {"id": str(message.uuid), "event": message.event, "created_at": message.created_at,
                "subject": message.subject_label, "data": message.payload}
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


def _retry_delay(attempt: int) -> float:
    from .services import retry_delay

    return retry_delay(attempt)


def webhook_deliver(*, delivery_id: int) -> tuple[str, float | None]:
    """POST one delivery. Returns (status, seconds until the next try or None). A second run is a no-op."""
    from .services import _claimable

    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(_claimable(now), pk=delivery_id).update(
        status=WebhookDelivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1,
    )
    if not claimed:
        return "noop", None
    delivery = WebhookDelivery.objects.select_related("outbox", "endpoint").get(pk=delivery_id)
    rows = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.SENDING)
    endpoint = delivery.endpoint
    if not endpoint.active:
        rows.update(status=WebhookDelivery.Status.FAILED, claimed_at=None, last_error="The endpoint is disabled.")
        return "failed", None

    body = delivery_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Waybill-Webhooks/1",
        "Waybill-Event": delivery.event,
        "Waybill-Delivery": str(delivery.pk),
        "Idempotency-Key": str(delivery.outbox.uuid),
        SIGNATURE_HEADER: sign(body=body, secret=endpoint.secret, timestamp=int(time.time())),
    }
    started = time.perf_counter()
    status_code, error = None, ""
    try:
        response = requests.post(endpoint.url, data=body, headers=headers, allow_redirects=False,
                                 timeout=settings.WAYBILL_WEBHOOK_TIMEOUT_SECONDS)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:500]}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    WebhookAttempt.objects.create(delivery=delivery, status_code=status_code, response_ms=elapsed_ms, error=error)

    if not error:
        rows.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=timezone.now(), response_status=status_code,
                    response_ms=elapsed_ms, last_error="", claimed_at=None, next_attempt_at=None)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return "delivered", None

    disabled = _record_endpoint_failure(endpoint.pk, error)
    if disabled or delivery.attempts >= settings.WAYBILL_WEBHOOK_MAX_ATTEMPTS:
        rows.update(status=WebhookDelivery.Status.FAILED, response_status=status_code, response_ms=elapsed_ms,
                    last_error=error, claimed_at=None, next_attempt_at=None)
        return "failed", None
    delay = _retry_delay(delivery.attempts)
    rows.update(status=WebhookDelivery.Status.RETRYING, response_status=status_code, response_ms=elapsed_ms,
                last_error=error, claimed_at=None, next_attempt_at=timezone.now() + timedelta(seconds=delay))
    return "retrying", delay


@transaction.atomic
def _record_endpoint_failure(endpoint_id: int, error: str) -> bool:
    """Count a failed attempt; disable the endpoint once it reaches the limit. True when it is now disabled."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.consecutive_failures += 1
    fields = ["consecutive_failures"]
    if endpoint.active and endpoint.consecutive_failures >= settings.WAYBILL_WEBHOOK_DISABLE_AFTER_FAILURES:
        endpoint.active = False
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = f"{endpoint.consecutive_failures} failed attempts in a row; last: {error}"[:255]
        fields += ["active", "disabled_at", "disabled_reason"]
        logger.warning("webhook endpoint %s disabled after %s failures", endpoint.pk, endpoint.consecutive_failures)
    endpoint.save(update_fields=fields)
    return not endpoint.active


@transaction.atomic
def webhook_delivery_replay(*, delivery_ids: list[int]) -> int:
    """Staff: send deliveries again (a new attempt on the same row). Returns how many were queued."""
    ids = list(
        WebhookDelivery.objects.select_for_update().filter(pk__in=delivery_ids)
        .exclude(status=WebhookDelivery.Status.SENDING).order_by("pk").values_list("pk", flat=True)
    )
    WebhookDelivery.objects.filter(pk__in=ids).update(
        status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=None, claimed_at=None, last_error="",
    )
    transaction.on_commit(lambda: _publish_all(ids))
    return len(ids)


@transaction.atomic
def webhook_endpoint_enable(*, endpoint_ids: list[int]) -> int:
    return WebhookEndpoint.objects.filter(pk__in=endpoint_ids).update(
        active=True, consecutive_failures=0, disabled_at=None, disabled_reason="",
    )


def _publish_all(ids: list[int]) -> None:
    from .services import publish_task

    for pk in ids:
        publish_task(webhook_deliver_task, args=[pk])


@app.task(bind=True, acks_late=True, reject_on_worker_lost=True,  # limits as notifications.tasks.SEND_LIMITS
          soft_time_limit=settings.WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS / 2,
          time_limit=settings.WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS * 3 / 4)
def webhook_deliver_task(self, delivery_id: int) -> str:
    from .services import publish_task

    status, retry_in = webhook_deliver(delivery_id=delivery_id)
    if retry_in is not None and not app.conf.task_always_eager:
        publish_task(webhook_deliver_task, args=[delivery_id], countdown=retry_in)
    return status
