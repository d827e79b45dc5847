from django.db import migrations


def forwards(apps, schema_editor):
    """Parcel entries on order timelines were written as "fulfilment"; shipping now registers its own kinds."""
    OrderEvent = apps.get_model("orders", "OrderEvent")
    OrderEvent.objects.filter(kind="fulfilment", text__contains=" created: ").update(kind="shipment_created")
    OrderEvent.objects.filter(kind="fulfilment").update(kind="parcel_update")


def backwards(apps, schema_editor):
    OrderEvent = apps.get_model("orders", "OrderEvent")
    OrderEvent.objects.filter(kind__in=["shipment_created", "parcel_update"]).update(kind="fulfilment")


class Migration(migrations.Migration):
    dependencies = [
        ("shipping", "0002_carriers_and_permissions"),
        ("orders", "0006_timeline_kinds_and_data"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
