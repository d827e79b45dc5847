from celery import shared_task

from .services import return_alert_overdue


@shared_task
def return_alert_overdue_task() -> int:
    return return_alert_overdue()
