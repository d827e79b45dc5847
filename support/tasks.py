from celery import shared_task

from .services import sla_alert, ticket_close_solved


@shared_task
def sla_alert_task() -> int:
    return sla_alert()


@shared_task
def ticket_close_solved_task() -> int:
    return ticket_close_solved()
