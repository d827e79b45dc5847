import django.db.models.deletion
from django.db import migrations, models


def drop_unfinished_keys(apps, schema_editor):
    apps.get_model("orders", "IdempotencyKey").objects.filter(order__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_staff_groups")]

    operations = [
        migrations.RemoveField(model_name="idempotencykey", name="token"),
        migrations.RemoveField(model_name="idempotencykey", name="status_code"),
        migrations.RunPython(drop_unfinished_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="idempotencykey",
            name="order",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="orders.order"),
        ),
    ]
