import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0006_catalogue_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="stocklevel",
            name="bin",
            field=models.CharField(
                blank=True, max_length=32, verbose_name="bin location",
                help_text="Where it sits in the warehouse, e.g. A-03-2 (aisle, rack, shelf): pick lists walk the bins "
                          "in order.",
                validators=[django.core.validators.RegexValidator(
                    "^[A-Za-z0-9][A-Za-z0-9 ./-]*$", "Letters, digits, spaces, dots, slashes and dashes.")],
            ),
        ),
    ]
