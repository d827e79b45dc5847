from celery import shared_task

from .time_in_state.services import rules_evaluate


@shared_task(acks_late=True, reject_on_worker_lost=True)
def time_in_state_evaluate_task() -> dict[str, dict[str, int]]:
    """Beat: every active time-in-state rule. Delivered twice or run twice at once, it alerts once per breach."""
    return {name: {"opened": result.opened, "closed": result.closed} for name, result in rules_evaluate().items()}
