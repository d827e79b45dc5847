from django.db import migrations

VIEW = ["view_returnrequest", "view_returnline", "view_returnphoto", "view_returnevent", "view_refund"]
GROUPS = {
    # the warehouse takes returned parcels in and decides what becomes of each item
    "Warehouse staff": VIEW + ["receive_returnrequest", "inspect_returnrequest"],
    # support decides on claims and gives the customer what was promised
    "Support agents": VIEW + ["add_returnrequest", "approve_returnrequest", "refund_returnrequest",
                              "replace_returnrequest", "add_refund"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("returns")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="returns", codename__in=codenames))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="returns",
                                                            codename__in=GROUPS[group.name]))


class Migration(migrations.Migration):
    dependencies = [
        ("returns", "0001_initial"),
        ("orders", "0002_staff_groups"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
