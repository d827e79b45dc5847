"""Deleting old rows a bounded batch at a time, so a purge never holds long locks or one huge transaction."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet


def delete_in_batches(queryset: QuerySet, *, batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Delete the rows of `queryset` oldest id first, `batch_size` per transaction, at most `max_batches` batches
    (WAYBILL_RETENTION_BATCH_SIZE, WAYBILL_RETENTION_MAX_BATCHES); what is left waits for the next run. Returns
    how many rows of the queryset's model were deleted (rows deleted by cascade are not counted)."""
    batch_size = batch_size or settings.WAYBILL_RETENTION_BATCH_SIZE
    max_batches = max_batches or settings.WAYBILL_RETENTION_MAX_BATCHES
    model = queryset.model
    deleted = 0
    for _ in range(max_batches):
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            _, per_model = model._base_manager.filter(pk__in=ids).delete()
            deleted += per_model.get(model._meta.label, 0)
        if len(ids) < batch_size:
            break
    return deleted


def login_log_purge(*, older_than_days: int | None = None, batch_size: int | None = None,
                    max_batches: int | None = None) -> int:
    """django-axes' log of successful sign-ins, WAYBILL_RETENTION_LOGIN_LOG_DAYS after each."""
    from datetime import timedelta

    from axes.models import AccessLog
    from django.utils import timezone

    days = settings.WAYBILL_RETENTION_LOGIN_LOG_DAYS if older_than_days is None else older_than_days
    return delete_in_batches(AccessLog.objects.filter(attempt_time__lt=timezone.now() - timedelta(days=days)),
                             batch_size=batch_size, max_batches=max_batches)
