"""The outbox relay's loop (`manage.py outbox_relay`): new outbox rows to the Celery workers, in batches, as soon
as they commit. One pass is notifications.services.outbox_relay; this keeps passing until told to stop, waits
WAYBILL_OUTBOX_RELAY_POLL_SECONDS while there is nothing to send, and rides out a database or a broker that is
away (backing off up to MAX_BACKOFF_SECONDS; the rows wait in the outbox meanwhile)."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection

from .services import outbox_relay, outbox_relay_heartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 5.0


def relay_until(stop: threading.Event, *, poll: float | None = None) -> int:
    """Pass after pass until `stop` is set. Returns how many rows it handed over."""
    poll = settings.WAYBILL_OUTBOX_RELAY_POLL_SECONDS if poll is None else poll
    limit = settings.WAYBILL_OUTBOX_RELAY_LIMIT
    beat_at, backoff, sent = 0.0, poll, 0
    while not stop.is_set():
        try:
            done = outbox_relay(limit=limit)
            sent += done.sent
            if time.monotonic() >= beat_at:
                outbox_relay_heartbeat()
                beat_at = time.monotonic() + HEARTBEAT_EVERY_SECONDS
        except DatabaseError as exc:  # the database restarted or is away: a new connection on the next pass
            logger.warning("outbox relay: %s; trying again in %.1f s", exc, backoff)
            connection.close()
        except Exception:  # noqa: BLE001 - the cache is away, say: the relay itself keeps going
            logger.exception("outbox relay: a pass failed; trying again in %.1f s", backoff)
        else:
            if done.sent == done.claimed:
                backoff = poll
                if done.claimed < limit:  # caught up; a full pass means there may be more at once
                    stop.wait(poll)
                continue
            # the broker is away: the rows were given back
        stop.wait(backoff)
        backoff = min(MAX_BACKOFF_SECONDS, max(backoff, 0.05) * 2)
    return sent
