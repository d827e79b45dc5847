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


@shared_task(acks_late=True, soft_time_limit=60 * 60, time_limit=60 * 60 + 60)
def export_job_run_task(job_id: int) -> str:
    from .exports import export_job_run

    job = export_job_run(job_id=job_id)
    return job.status if job else "skipped"


@shared_task
def export_jobs_sweep_task() -> int:
    from .exports import export_jobs_sweep

    return export_jobs_sweep()
