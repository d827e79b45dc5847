"""The warehouse books goods receipts (and sees them); support sees them."""

from django.db import migrations

GROUPS = {
    "Warehouse staff": ["view_goodsreceipt", "add_goodsreceipt", "view_goodsreceiptline"],
    "Support agents": ["view_goodsreceipt", "view_goodsreceiptline"],
    "Catalogue managers": ["view_goodsreceipt", "view_goodsreceiptline"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("inventory")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.add(*Permission.objects.filter(content_type__app_label="inventory",
                                                             codename__in=codenames))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="inventory",
                                                            codename__in=GROUPS[group.name]))


class Migration(migrations.Migration):
    dependencies = [("inventory", "0009_goods_receipts"), ("orders", "0002_staff_groups")]
    operations = [migrations.RunPython(grant, revoke)]
