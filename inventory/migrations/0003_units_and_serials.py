
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('inventory', '0002_lean_write_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='product',
            name='serial_format',
            field=models.CharField(choices=[('serial', 'Serial number (3 to 64 letters, digits, dots, slashes, dashes)'), ('imei', 'IMEI (15 digits with a valid check digit)')], default='serial', max_length=10),
        ),
        migrations.AlterField(
            model_name='product',
            name='serial_tracked',
            field=models.BooleanField(default=False, help_text='Each unit is identified by a serial number, scanned when it is packed.', verbose_name='units carry serial numbers'),
        ),
        migrations.CreateModel(
            name='Unit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('serial', models.CharField(max_length=64, verbose_name='serial number')),
                ('status', models.CharField(choices=[('in_stock', 'In stock'), ('packed', 'Packed in a parcel'), ('with_customer', 'With a customer'), ('awaiting_inspection', 'Back with us, awaiting inspection'), ('refurbishing', 'Being refurbished'), ('scrapped', 'Scrapped'), ('returned_to_vendor', 'Returned to the vendor')], default='in_stock', max_length=20)),
                ('batch', models.CharField(blank=True, help_text='The delivery it arrived with, where recorded.', max_length=64, verbose_name='receipt batch')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('product', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='units', to='inventory.product')),
                ('warehouse', models.ForeignKey(blank=True, help_text='Where the unit is while it is with us.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='units', to='inventory.warehouse')),
            ],
            options={
                'ordering': ['product', 'serial'],
            },
        ),
        migrations.CreateModel(
            name='UnitEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('received', 'Received'), ('packed', 'Packed'), ('unpacked', 'Taken out of a cancelled parcel'), ('shipped', 'Shipped'), ('back_to_stock', 'Back in stock (parcel returned to sender)'), ('return_received', 'Returned by the customer'), ('inspected', 'Inspected'), ('restocked', 'Restocked'), ('refurbished', 'Sent for refurbishment'), ('scrapped', 'Scrapped'), ('returned_to_vendor', 'Returned to the vendor')], max_length=20)),
                ('status', models.CharField(choices=[('in_stock', 'In stock'), ('packed', 'Packed in a parcel'), ('with_customer', 'With a customer'), ('awaiting_inspection', 'Back with us, awaiting inspection'), ('refurbishing', 'Being refurbished'), ('scrapped', 'Scrapped'), ('returned_to_vendor', 'Returned to the vendor')], help_text="The unit's status after it.", max_length=20)),
                ('order_number', models.CharField(blank=True, help_text='The order it went out with or came back from.', max_length=20)),
                ('replacement', models.BooleanField(default=False, help_text='Shipped in place of a faulty unit.')),
                ('text', models.CharField(blank=True, max_length=255)),
                ('reference_id', models.PositiveBigIntegerField(blank=True, null=True)),
                ('reference_label', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('reference_type', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, to='contenttypes.contenttype')),
                ('unit', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='inventory.unit')),
                ('warehouse', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='inventory.warehouse')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.AddIndex(
            model_name='unit',
            index=models.Index(fields=['serial'], name='unit_serial'),
        ),
        migrations.AddConstraint(
            model_name='unit',
            constraint=models.UniqueConstraint(fields=('product', 'serial'), name='unit_unique_serial_per_product'),
        ),
        migrations.AddIndex(
            model_name='unitevent',
            index=models.Index(fields=['unit', 'created_at', 'id'], name='unitevent_unit_history'),
        ),
        migrations.AddIndex(
            model_name='unitevent',
            index=models.Index(condition=models.Q(('order_number', ''), _negated=True), fields=['order_number'], name='unitevent_order'),
        ),
    ]
