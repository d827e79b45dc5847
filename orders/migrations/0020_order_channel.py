"""Where an order came from: the storefront API, a phone or counter order taken by staff, an import, or a replacement
sent after a claim. Orders placed before this migration are storefront orders, except those it can tell apart:
replacements (they name the order they replace), placed drafts (staff made them), and orders whose idempotency key
is still kept (phone orders and imports say so in the key; keys are kept WAYBILL_IDEMPOTENCY_TTL_HOURS)."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    IdempotencyKey = apps.get_model("orders", "IdempotencyKey")
    OrderDraft = apps.get_model("orders", "OrderDraft")
    Order.objects.filter(replaces__isnull=False).update(channel="replacement")
    staff_made = IdempotencyKey.objects.filter(key__startswith="admin-phone-order:").values("order_id")
    Order.objects.filter(pk__in=staff_made).update(channel="phone")
    Order.objects.filter(pk__in=OrderDraft.objects.filter(placed_order__isnull=False).values("placed_order_id")
                         ).update(channel="phone")
    imported = IdempotencyKey.objects.filter(key__startswith="import:").values("order_id")
    Order.objects.filter(pk__in=imported).update(channel="import")


class Migration(migrations.Migration):

    dependencies = [
        ("orders", "0019_payments"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="channel",
            field=models.CharField(choices=[("storefront", "Storefront (API)"),
                                            ("phone", "Phone or counter order (staff)"), ("import", "Imported"),
                                            ("replacement", "Replacement or exchange")],
                                   default="storefront", editable=False, max_length=20),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
