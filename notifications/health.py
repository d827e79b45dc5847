"""Health: the outbox is being worked off. If its oldest unprocessed message is older than
WAYBILL_HEALTH_OUTBOX_MAX_AGE_SECONDS, the relay or the workers are not keeping up (or not running). With
WAYBILL_OUTBOX_RELAY on, a relay that has not been heard of for a while is a warning: the sweep still sends."""

from __future__ import annotations

import dataclasses
import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

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


RELAY_SILENT_AFTER = datetime.timedelta(seconds=30)


@dataclasses.dataclass
class OutboxRelay(HealthCheck):
    """A relay (`manage.py outbox_relay`) beat in the last 30 seconds. Otherwise a warning, not a failure: the
    sweep hands the rows over every WAYBILL_OUTBOX_SWEEP_SECONDS, so emails are late, not lost."""

    def run(self) -> None:
        from django.core.cache import cache

        from .services import RELAY_HEARTBEAT_KEY

        try:
            beat = cache.get(RELAY_HEARTBEAT_KEY)
        except Exception as exc:  # noqa: BLE001 - the cache's own check reports the cache
            raise ServiceWarning(f"outbox relay unknown: the cache did not answer ({type(exc).__name__})") from exc
        if beat is None:
            raise ServiceWarning("no outbox relay has run: start `manage.py outbox_relay` (emails wait for the sweep)")
        silent = timezone.now().timestamp() - beat
        if silent > RELAY_SILENT_AFTER.total_seconds():
            raise ServiceWarning(f"the outbox relay was last heard of {int(silent)} s ago: emails wait for the sweep")
