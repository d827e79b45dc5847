from celery import shared_task

from .retention import idempotency_keys_purge
from .services import order_expire_unpaid


@shared_task
def idempotency_keys_purge_task() -> int:
    return idempotency_keys_purge()


@shared_task
def order_expire_unpaid_task() -> int:
    """Cancel unpaid orders past WAYBILL_UNPAID_ORDER_EXPIRY_HOURS; a batch per run, the rest next run."""
    return len(order_expire_unpaid())
