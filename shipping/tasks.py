from celery import shared_task

from .services import shipment_alert_overdue_scans


@shared_task
def shipment_alert_overdue_scans_task() -> int:
    return shipment_alert_overdue_scans()
