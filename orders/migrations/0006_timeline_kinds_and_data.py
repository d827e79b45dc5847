
import django.core.serializers.json
import django_fsm
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0005_lean_write_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='orderevent',
            name='orderevent_order_time',
        ),
        migrations.RenameField(
            model_name='orderevent',
            old_name='reason',
            new_name='text',
        ),
        migrations.AddField(
            model_name='orderevent',
            name='data',
            field=models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, help_text='Structured facts: numbers, amounts, serials.'),
        ),
        migrations.AlterField(
            model_name='orderevent',
            name='text',
            field=models.TextField(blank=True, help_text="What happened, or why, in words (a status change's reason)."),
        ),
        migrations.AlterField(
            model_name='order',
            name='status',
            field=django_fsm.FSMField(choices=[('placed', 'Placed'), ('confirmed', 'Confirmed'), ('processing', 'Processing'), ('packed', 'Packed'), ('partially_shipped', 'Partially shipped'), ('shipped', 'Shipped'), ('delivered', 'Delivered'), ('returned', 'Returned to sender'), ('on_hold', 'On hold'), ('cancelled', 'Cancelled')], default='placed', max_length=50, protected=True),
        ),
        migrations.AlterField(
            model_name='orderevent',
            name='kind',
            field=models.CharField(default='status', help_text='A kind registered in orders.timeline.', max_length=40),
        ),
        migrations.AddIndex(
            model_name='orderevent',
            index=models.Index(fields=['order', 'created_at', 'id'], name='orderevent_order_timeline'),
        ),
        migrations.AddIndex(
            model_name='orderevent',
            index=models.Index(fields=['kind', 'created_at'], name='orderevent_kind_time'),
        ),
    ]
