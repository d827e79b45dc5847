"""Payments are recorded, one row each, and an order keeps their sum (amount_paid) apart from its total, so a
paid order can change: items added leave a balance to pay, items removed leave money to refund. Orders paid before
this have one payment of their total (method "other")."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def paid_so_far(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Order.objects.exclude(payment_status="unpaid").filter(total__gt=0).update(amount_paid=models.F("total"))
    order, payment = Order._meta.db_table, apps.get_model("orders", "Payment")._meta.db_table
    schema_editor.execute(  # one statement, dated when the order last changed
        f"INSERT INTO {payment} (order_id, amount, method, reference, created_at) "
        f"SELECT id, total, 'other', '', updated_at FROM {order} WHERE payment_status <> 'unpaid' AND total > 0")


def support_records_payments(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("orders")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="orders", codename="record_payment")
    for group in Group.objects.filter(name="Support agents"):
        group.permissions.add(permission)


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0018_order_drafts'),
        ('auth', '0012_alter_user_first_name_max_length'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Payment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(decimal_places=2, max_digits=14)),
                ('method', models.CharField(choices=[('card', 'Card'), ('bank_transfer', 'Bank transfer'), ('cash', 'Cash'), ('other', 'Other')], default='card', max_length=20)),
                ('reference', models.CharField(blank=True, help_text="The payment provider's id for it (a capture or transfer reference).", max_length=100)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.AlterModelOptions(
            name='order',
            options={'ordering': ['-placed_at', '-id'], 'permissions': [('cancel_order', 'Can cancel orders'), ('transition_order', 'Can move orders through their lifecycle'), ('add_internal_note', 'Can add internal notes to orders'), ('ship_outside_waybill', 'Can mark orders shipped outside Waybill (no parcel, no tracking)'), ('record_payment', 'Can record payments received for orders')]},
        ),
        migrations.RemoveConstraint(
            model_name='order',
            name='order_refunded_le_total',
        ),
        migrations.AddField(
            model_name='order',
            name='amount_paid',
            field=models.DecimalField(db_default=0, decimal_places=2, default=0, editable=False, help_text='The sum of the payments received (Payment); written by order_record_payment only.', max_digits=14),
        ),
        migrations.AlterField(
            model_name='order',
            name='payment_status',
            field=models.CharField(choices=[('unpaid', 'Unpaid'), ('partially_paid', 'Partially paid'), ('paid', 'Paid'), ('partially_refunded', 'Partially refunded'), ('refunded', 'Refunded')], default='unpaid', max_length=20),
        ),
        migrations.AlterField(
            model_name='order',
            name='refunded_total',
            field=models.DecimalField(decimal_places=2, default=0, editable=False, help_text='The sum of the refunds issued (returns.Refund); never more than the amount paid.', max_digits=14),
        ),
        migrations.AddField(
            model_name='payment',
            name='order',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='orders.order'),
        ),
        migrations.AddField(
            model_name='payment',
            name='recorded_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payment_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.UniqueConstraint(condition=models.Q(('reference', ''), _negated=True), fields=('order', 'reference'), name='payment_reference_once_per_order'),
        ),
        migrations.RunPython(paid_so_far, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('amount_paid__gte', 0)), name='order_amount_paid_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('refunded_total__gte', 0), ('refunded_total__lte', models.F('amount_paid'))), name='order_refunded_le_paid'),
        ),
        migrations.RunPython(support_records_payments, migrations.RunPython.noop),
    ]
