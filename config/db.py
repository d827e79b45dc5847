"""Database helpers shared by every app's services."""

from __future__ import annotations

import functools
import logging
import time

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure

# An expression for a transaction's first statement to evaluate (PostgreSQL): the transaction's later prepared
# statements run on their generic plans, planned once per connection, instead of being planned again for each run's
# values. PostgreSQL keeps custom plans for a statement whose parameters are arrays (it cannot tell their length),
# and planning such a statement can cost more than running it: for the order placement's stock statement it was a
# third of PostgreSQL's time per order. For statements that look rows up by key, whatever the values (not for
# reports and searches, whose best plan depends on them). Ends with the transaction; unprepared statements are
# planned for their values as always (behind a pooler every statement is).
GENERIC_PLANS = "set_config('plan_cache_mode', 'force_generic_plan', true)"


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(getattr(cause, "diag", None), "sqlstate", None)


def atomic_service(func=None, *, attempts: int = 3):
    """`transaction.atomic`, and a retry of the whole service on deadlock or serialization failure.

    The retry happens only where this call owns the outermost transaction: inside someone else's transaction a
    part cannot be retried alone, so the error goes up to the owner.
    """

    def decorate(fn):
        atomic_fn = transaction.atomic(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if connection.in_atomic_block:
                return atomic_fn(*args, **kwargs)
            for attempt in range(1, attempts + 1):
                try:
                    return atomic_fn(*args, **kwargs)
                except OperationalError as exc:
                    if _sqlstate(exc) not in RETRYABLE_SQLSTATES or attempt == attempts:
                        raise
                    logger.warning("retrying %s after %s (attempt %d)", fn.__name__, _sqlstate(exc), attempt)
                    time.sleep(0.01 * attempt)
            raise AssertionError("unreachable")

        return wrapper

    return decorate(func) if func is not None else decorate
