"""The default time-in-state rules. Those that replace an app's own check (labels never scanned, returns not
resolved, SLA breaches, faulty units not back) start from that check's setting and alert whom it alerted: the staff
alert list (WAYBILL_STAFF_ALERT_EMAILS)."""

from django.conf import settings
from django.db import migrations


def defaults():
    return [
        {"name": "Order not shipped in full 48 h after it was placed", "state": "order.unfulfilled",
         "max_age_hours": 48},
        {"name": "Label created but never scanned by the carrier", "state": "shipment.label_unscanned",
         "max_age_hours": getattr(settings, "WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS", 48)},
        {"name": "Return received but not resolved", "state": "return.received_unresolved",
         "max_age_hours": getattr(settings, "WAYBILL_RETURN_UNRESOLVED_ALERT_HOURS", 72)},
        {"name": "Ticket waiting for a first reply past its SLA", "state": "ticket.first_reply",
         "max_age_hours": None},
        {"name": "Ticket waiting on us past its SLA", "state": "ticket.waiting_on_us", "max_age_hours": None},
        {"name": "Advance replacement: the faulty unit not back by its due date",
         "state": "return.defective_unit_not_back", "max_age_hours": None},
    ]


def add_defaults(apps, schema_editor):
    Rule = apps.get_model("analytics", "TimeInStateRule")
    for rule in defaults():
        Rule.objects.get_or_create(name=rule["name"], defaults={**rule, "notify_staff_list": True, "active": True})


def remove_defaults(apps, schema_editor):
    Rule = apps.get_model("analytics", "TimeInStateRule")
    Rule.objects.filter(name__in=[rule["name"] for rule in defaults()]).delete()


class Migration(migrations.Migration):

    dependencies = [("analytics", "0050_time_in_state")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
