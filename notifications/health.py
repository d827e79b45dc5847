"""Health: the outbox is being worked off. If its oldest unprocessed message is older than
WAYBILL_HEALTH_OUTBOX_MAX_AGE_SECONDS, the relay or the workers are not keeping up (or not running)."""

from __future__ import annotations

import dataclasses
import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from .models import OutboxMessage


def _max_age() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.WAYBILL_HEALTH_OUTBOX_MAX_AGE_SECONDS)


@dataclasses.dataclass
class OutboxBacklog(HealthCheck):
    max_age: datetime.timedelta = dataclasses.field(default_factory=_max_age, repr=False)

    def run(self) -> None:
        try:
            # the partial index outbox_unprocessed makes this one index probe
            oldest = (OutboxMessage.objects.filter(processed_at__isnull=True).order_by("id")
                      .values_list("created_at", flat=True).first())
        except DatabaseError as exc:
            raise ServiceUnavailable("Database unavailable") from exc
        finally:
            connection.close()  # this runs in the health view's worker thread
        if oldest is None:
            return
        age = timezone.now() - oldest
        if age > self.max_age:
            raise ServiceUnavailable(f"Oldest unprocessed outbox message is {int(age.total_seconds())} s old "
                                     f"(limit {int(self.max_age.total_seconds())} s)")
