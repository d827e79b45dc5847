from django.db import migrations

VIEW = ["view_ticket", "view_message", "view_attachment", "view_ticketevent", "view_cannedreply", "view_queue",
        "view_slapolicy", "view_businesscalendar", "view_workinghours", "view_holiday", "view_inboundemail"]
GROUPS = {
    "Support agents": VIEW + ["work_ticket"],
    # leads also hand tickets to others and keep the desk's configuration
    "Support leads": VIEW + ["work_ticket", "assign_ticket", "add_cannedreply", "change_cannedreply",
                             "delete_cannedreply", "change_queue", "add_slapolicy", "change_slapolicy",
                             "change_businesscalendar", "add_holiday", "change_holiday", "delete_holiday",
                             "add_workinghours", "change_workinghours", "delete_workinghours"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("support")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="support", codename__in=codenames))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="support",
                                                            codename__in=GROUPS[group.name]))
    apps.get_model("auth", "Group").objects.filter(name="Support leads", permissions=None).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0001_initial"),
        ("orders", "0002_staff_groups"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
