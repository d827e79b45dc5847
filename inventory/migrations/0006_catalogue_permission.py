"""Prices and the catalogue get a permission of their own: catalogue managers have it, the warehouse role does
not (it no longer adds products; it still changes stock alerts and serial-number settings)."""

from django.db import migrations

CATALOGUE_MANAGERS = ["view_product", "add_product", "change_product", "manage_catalogue", "view_stocklevel",
                      "view_warehouse", "view_stockmovement"]


def split(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("inventory")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    inventory = Permission.objects.filter(content_type__app_label="inventory")
    managers, _ = Group.objects.get_or_create(name="Catalogue managers")
    managers.permissions.add(*inventory.filter(codename__in=CATALOGUE_MANAGERS))
    for warehouse in Group.objects.filter(name="Warehouse staff"):
        warehouse.permissions.remove(*inventory.filter(codename__in=["add_product", "manage_catalogue"]))


def merge(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name="Catalogue managers").delete()
    for warehouse in Group.objects.filter(name="Warehouse staff"):
        warehouse.permissions.add(*Permission.objects.filter(content_type__app_label="inventory",
                                                             codename="add_product"))


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0005_return_policy"),
        ("orders", "0002_staff_groups"),
    ]
    operations = [
        migrations.AlterModelOptions(
            name="product",
            options={"ordering": ["sku"], "permissions": [
                ("manage_catalogue", "Can add products and change their names, prices and sale terms")]},
        ),
        migrations.RunPython(split, merge),
    ]
