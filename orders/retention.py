"""How long the orders app keeps what it only needs for a while: the idempotency keys of API requests (and the
answers kept for them), WAYBILL_IDEMPOTENCY_TTL_HOURS after the request."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from config.retention import delete_in_batches

from .models import IdempotencyKey, IdempotentResponse


def idempotency_keys_purge(*, older_than_hours: int | None = None, batch_size: int | None = None,
                           max_batches: int | None = None) -> int:
    """Forget idempotency keys and kept answers past their lifetime, in bounded batches; returns how many."""
    hours = settings.WAYBILL_IDEMPOTENCY_TTL_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    return sum(delete_in_batches(model.objects.filter(created_at__lt=cutoff), batch_size=batch_size,
                                 max_batches=max_batches)
               for model in (IdempotencyKey, IdempotentResponse))
