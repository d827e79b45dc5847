"""Who sees the dashboard: analysts (a read-only role: the dashboard and the lists its figures link to), support
leads (the desk's figures) and catalogue managers (sales per product, stock cover, reorder suggestions). Warehouse
staff and support agents do not: the dashboard shows the whole business's revenue."""

from django.db import migrations

VIEW_ANALYTICS = ("analytics", "view_analytics")
# what the dashboard's drill-downs open, read-only
ANALYSTS = [
    VIEW_ANALYTICS,
    ("orders", "view_order"), ("orders", "view_orderline"), ("orders", "view_orderevent"),
    ("returns", "view_returnrequest"), ("returns", "view_returnline"), ("returns", "view_refund"),
    ("shipping", "view_shipment"), ("shipping", "view_carrier"),
    ("support", "view_ticket"), ("support", "view_queue"),
    ("inventory", "view_product"), ("inventory", "view_stocklevel"), ("inventory", "view_warehouse"),
]
GROUPS = {"Analysts": ANALYSTS, "Support leads": [VIEW_ANALYTICS], "Catalogue managers": [VIEW_ANALYTICS]}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codes:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name="Analysts").delete()
    view = Permission.objects.filter(content_type__app_label="analytics", codename="view_analytics")
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*view)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_rollups"),
        ("orders", "0002_staff_groups"),
        ("inventory", "0006_catalogue_permission"),
        ("returns", "0002_return_permissions"),
        ("shipping", "0002_carriers_and_permissions"),
        ("support", "0002_support_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
