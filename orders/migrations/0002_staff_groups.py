from django.db import migrations

GROUPS = {
    "Warehouse staff": [
        "inventory.view_product", "inventory.add_product", "inventory.change_product",
        "inventory.view_warehouse", "inventory.change_warehouse",
        "inventory.view_stocklevel", "inventory.add_stocklevel", "inventory.change_stocklevel",
        "inventory.view_stockmovement", "inventory.view_lowstockalert", "inventory.change_lowstockalert",
        "orders.view_order", "orders.add_order", "orders.change_order", "orders.transition_order",
        "orders.view_orderline", "orders.view_allocation", "orders.view_orderevent", "orders.add_internal_note",
    ],
    "Support agents": [
        "inventory.view_product", "inventory.view_stocklevel", "inventory.view_warehouse",
        "orders.view_order", "orders.add_order", "orders.cancel_order", "orders.add_internal_note",
        "orders.view_orderline", "orders.view_allocation", "orders.view_orderevent",
    ],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("inventory", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
