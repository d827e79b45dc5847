"""A support desk that works out of the box: office hours Monday to Friday 9:00–17:00 (Europe/Berlin), a queue per
category, and SLA targets per priority. Everything is editable in the admin."""

from datetime import time

from django.db import migrations

CATEGORIES = [("defect", "Defective items"), ("delivery", "Deliveries"), ("return", "Returns"),
              ("billing", "Billing"), ("other", "Everything else")]
# priority: (first reply, resolution) in business minutes
TARGETS = {"urgent": (30, 4 * 60), "high": (60, 8 * 60), "normal": (4 * 60, 16 * 60), "low": (8 * 60, 40 * 60)}


def create(apps, schema_editor):
    BusinessCalendar = apps.get_model("support", "BusinessCalendar")
    WorkingHours = apps.get_model("support", "WorkingHours")
    Queue = apps.get_model("support", "Queue")
    SlaPolicy = apps.get_model("support", "SlaPolicy")
    if BusinessCalendar.objects.exists():
        return
    calendar = BusinessCalendar.objects.create(name="Office hours", time_zone="Europe/Berlin", is_default=True)
    WorkingHours.objects.bulk_create([WorkingHours(calendar=calendar, weekday=day, opens=time(9), closes=time(17))
                                      for day in range(5)])
    for category, name in CATEGORIES:
        Queue.objects.get_or_create(category=category, defaults={"name": name, "calendar": calendar})
    for priority, (first, resolution) in TARGETS.items():
        SlaPolicy.objects.get_or_create(priority=priority, category="", defaults={
            "first_response_minutes": first, "resolution_minutes": resolution})


class Migration(migrations.Migration):
    dependencies = [("support", "0002_support_groups")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
