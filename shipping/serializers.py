from rest_framework import serializers

from .models import Shipment, ShipmentEvent, ShipmentLine


class ShipmentLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Order line id.")
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


class ShipmentCreateSerializer(serializers.Serializer):
    order = serializers.CharField(max_length=20, help_text="Order number.")
    warehouse = serializers.CharField(max_length=16, help_text="Warehouse code the parcel leaves from.")
    carrier = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    lines = ShipmentLineInputSerializer(many=True, allow_empty=False, max_length=200)


class SerialsForLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Order line id.")
    serials = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False, max_length=500,
                                    help_text="The serial number (IMEI for phones) of every unit of the line.")


class ShipmentTransitionSerializer(serializers.Serializer):
    serials = SerialsForLineSerializer(many=True, required=False, default=list, max_length=200,
                                       help_text="pack: the serial numbers of serial-tracked lines, scanned.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    carrier = serializers.CharField(max_length=32, required=False, allow_blank=True, default="",
                                    help_text="create_label: the carrier, when the shipment has none yet.")
    tracking_number = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                            help_text="create_label: the number the carrier gave (not for the local "
                                            "courier, which issues its own).")
    exception_reason = serializers.ChoiceField(choices=Shipment.ExceptionReason.values[1:], required=False,
                                               allow_blank=True, default="")


class CarrierEventSerializer(serializers.Serializer):
    tracking_number = serializers.CharField(max_length=64)
    event_id = serializers.CharField(max_length=100)
    status_code = serializers.CharField(max_length=40)
    location = serializers.CharField(max_length=120, required=False, allow_blank=True, default="",
                                     help_text="City only.")
    occurred_at = serializers.DateTimeField()
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class CarrierEventResultSerializer(serializers.Serializer):
    tracking_number = serializers.CharField()
    status = serializers.ChoiceField(choices=Shipment.Status.choices, help_text="The parcel's status now.")
    duplicate = serializers.BooleanField(help_text="The event id was received before (nothing changed).")
    changed = serializers.BooleanField(help_text="The event moved the parcel to a new status.")
    detail = serializers.CharField(help_text="What the event did, or why it changed nothing.")


class ShipmentLineSerializer(serializers.ModelSerializer):
    line = serializers.IntegerField(source="order_line_id")
    sku = serializers.CharField(source="order_line.sku")
    name = serializers.CharField(source="order_line.name")
    serials = serializers.SerializerMethodField(help_text="Serial numbers of the units packed (serial-tracked lines).")

    class Meta:
        model = ShipmentLine
        fields = ["line", "sku", "name", "quantity", "serials"]

    def get_serials(self, obj) -> list[str]:
        return [su.unit.serial for su in obj.units.all()]


class ShipmentEventSerializer(serializers.ModelSerializer):
    description = serializers.SerializerMethodField()

    class Meta:
        model = ShipmentEvent
        fields = ["source", "from_status", "to_status", "reported_status", "carrier_status_code", "location",
                  "description", "occurred_at"]

    def get_description(self, obj) -> str:
        """Staff's words are for staff; customers see the carrier's text or the status."""
        if self.context.get("staff") or obj.source == ShipmentEvent.Source.CARRIER:
            return obj.description
        status = obj.to_status
        return Shipment.Status(status).label if status in Shipment.Status.values else ""


class ShipmentListSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    warehouse = serializers.CharField(source="warehouse.code")
    carrier = serializers.CharField(source="carrier.code", allow_null=True, default=None)
    carrier_name = serializers.CharField(source="carrier.name", allow_null=True, default=None)
    tracking_url = serializers.CharField()

    class Meta:
        model = Shipment
        fields = ["id", "order", "warehouse", "carrier", "carrier_name", "tracking_number", "tracking_url",
                  "status", "exception_reason", "expected_delivery", "created_at", "shipped_at", "delivered_at"]


class ShipmentDetailSerializer(ShipmentListSerializer):
    lines = ShipmentLineSerializer(many=True)
    events = ShipmentEventSerializer(many=True)

    class Meta(ShipmentListSerializer.Meta):
        fields = [*ShipmentListSerializer.Meta.fields, "label_created_at", "last_scan_at", "lines", "events"]
