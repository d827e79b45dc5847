
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0003_units_and_serials'),
        ('shipping', '0003_parcel_update_kind'),
    ]

    operations = [
        migrations.CreateModel(
            name='ShipmentUnit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('line', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='units', to='shipping.shipmentline')),
                ('shipment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='units', to='shipping.shipment')),
                ('unit', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='shipment_units', to='inventory.unit')),
            ],
            options={
                'ordering': ['line', 'id'],
                'constraints': [models.UniqueConstraint(fields=('line', 'unit'), name='shipmentunit_unique_unit_per_line')],
            },
        ),
    ]
