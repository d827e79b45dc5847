from celery import shared_task
from django.db import OperationalError

from .rollups import rollups_catch_up
from .time_in_state.services import rules_evaluate


@shared_task(acks_late=True, reject_on_worker_lost=True)
def time_in_state_evaluate_task() -> dict[str, dict[str, int]]:
    """Beat: every active time-in-state rule. Delivered twice or run twice at once, it alerts once per breach."""
    return {name: {"opened": result.opened, "closed": result.closed} for name, result in rules_evaluate().items()}



@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, retry_backoff_max=120,
             retry_jitter=True, max_retries=3)
def rollups_refresh_task() -> dict:
    """The dashboard's rollups: today's orders and every order changed since. Idempotent (it recomputes; running
    it twice gives the same rows) and safe to overlap (a second run finds the lock taken and stops)."""
    return rollups_catch_up()
