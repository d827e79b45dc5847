import secrets

from django.db import migrations

CARRIERS = [
    {"code": "local", "name": "Local courier", "generates_tracking_numbers": True, "tracking_number_prefix": "WBL",
     "tracking_url_template": "", "tracking_number_pattern": "", "transit_days": 1},
    {"code": "parcelnet", "name": "ParcelNet", "generates_tracking_numbers": False, "tracking_number_prefix": "",
     "tracking_url_template": "https://parcelnet.example/track/{tracking_number}",
     "tracking_number_pattern": r"PN[0-9]{10}", "transit_days": 2},
    {"code": "swiftpost", "name": "SwiftPost", "generates_tracking_numbers": False, "tracking_number_prefix": "",
     "tracking_url_template": "https://swiftpost.example/parcels/{tracking_number}",
     "tracking_number_pattern": r"[0-9]{3}-[0-9]{7}-SP", "transit_days": 3},
]

GROUP_PERMISSIONS = {
    "Warehouse staff": [
        "view_carrier", "view_shipment", "add_shipment", "change_shipment", "transition_shipment",
        "view_shipmentline", "view_shipmentevent",
    ],
    "Support agents": ["view_carrier", "view_shipment", "view_shipmentline", "view_shipmentevent"],
}


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    Carrier = apps.get_model("shipping", "Carrier")
    for row in CARRIERS:
        Carrier.objects.get_or_create(code=row["code"], defaults={**row, "webhook_secret": secrets.token_hex(24)})

    app_config = apps.get_app_config("shipping")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="shipping", codename__in=codenames))


def unseed(apps, schema_editor):
    apps.get_model("shipping", "Carrier").objects.filter(
        code__in=[c["code"] for c in CARRIERS], shipments__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("shipping", "0001_initial"),
        ("orders", "0002_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(seed, unseed)]
