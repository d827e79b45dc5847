from rest_framework import serializers

from .models import Reason, Refund, ReturnEvent, ReturnLine, ReturnRequest


class ReturnLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, help_text="The id of one of the order's lines.")
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    reason = serializers.ChoiceField(choices=Reason.choices)
    serial = serializers.CharField(max_length=80, required=False, allow_blank=True, default="",
                                   help_text="The unit's serial number (IMEI for phones): required for "
                                   "serial-tracked products, one unit per line.")
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class ReturnCreateSerializer(serializers.Serializer):
    order = serializers.CharField(max_length=20, help_text="The order number.")
    lines = ReturnLineInputSerializer(many=True, allow_empty=False, max_length=50)
    resolution = serializers.ChoiceField(choices=ReturnRequest.Resolution.choices)
    exchange_sku = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                         help_text="The item wanted instead (an exchange).")
    customer_note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class ReturnTransitionSerializer(serializers.Serializer):
    """Fields of the steps: approve (handling, instructions, carrier, tracking_number, warehouse, send_label),
    reject (reason), cancel (reason), receive (note), resolve (refund_amount, refund_shipping, provider_reference,
    note), close."""

    handling = serializers.ChoiceField(choices=ReturnRequest.Handling.choices, required=False,
                                       default=ReturnRequest.Handling.RETURN)
    instructions = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    carrier = serializers.SlugField(max_length=32, required=False, allow_blank=True, default="")
    tracking_number = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    warehouse = serializers.CharField(max_length=16, required=False, allow_blank=True, default="",
                                      help_text="Warehouse code the item comes back to.")
    send_label = serializers.BooleanField(required=False, default=True)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    refund_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                                             allow_null=True, default=None)
    refund_shipping = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False,
                                               default=0)
    provider_reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class InspectionLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, help_text="The id of one of the return's lines.")
    disposition = serializers.ChoiceField(choices=[c for c in ReturnLine.Disposition.choices if c[0]])
    warehouse = serializers.CharField(max_length=16, required=False, allow_blank=True, default="",
                                      help_text="Warehouse code (restock).")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class InspectionSerializer(serializers.Serializer):
    lines = InspectionLineSerializer(many=True, allow_empty=False, max_length=50)


class RefundCreateSerializer(serializers.Serializer):
    items_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False, default=0)
    shipping_amount = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False,
                                               default=0)
    reason = serializers.CharField(max_length=255)
    provider_reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class PhotoUploadSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1)
    photo = serializers.FileField(allow_empty_file=False)


class RefundSerializer(serializers.ModelSerializer):
    return_number = serializers.CharField(source="return_request.number", default="", read_only=True)
    order = serializers.CharField(source="order.number", read_only=True)

    class Meta:
        model = Refund
        fields = ["id", "order", "return_number", "amount", "items_amount", "shipping_amount", "currency", "reason",
                  "provider_reference", "created_at"]


class ReturnLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="order_line.sku")
    name = serializers.CharField(source="order_line.name")
    order_line = serializers.IntegerField(source="order_line_id")
    serial = serializers.CharField(source="unit.serial", default="")
    replacement_serial = serializers.CharField(source="replacement_unit.serial", default="")
    reason_display = serializers.CharField(source="get_reason_display")
    photos = serializers.SerializerMethodField()

    class Meta:
        model = ReturnLine
        fields = ["id", "order_line", "sku", "name", "quantity", "reason", "reason_display", "description", "serial",
                  "replacement_serial", "disposition", "photos"]

    def get_photos(self, obj) -> list[int]:
        return [p.pk for p in obj.photos.all()]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("staff"):
            data.pop("disposition")  # what the warehouse decided stays in the warehouse
        return data


class ReturnEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReturnEvent
        fields = ["kind", "from_status", "to_status", "text", "data", "internal", "created_at"]


class ReturnListSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    line_count = serializers.IntegerField()
    status_display = serializers.CharField(source="get_status_display")

    class Meta:
        model = ReturnRequest
        fields = ["number", "order", "status", "status_display", "resolution", "handling", "channel", "line_count",
                  "created_at", "updated_at"]


class ReturnDetailSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    status_display = serializers.CharField(source="get_status_display")
    exchange_sku = serializers.CharField(source="exchange_product.sku", default="")
    warehouse = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()
    replacement_order = serializers.CharField(source="replacement_order.number", default="")
    lines = ReturnLineSerializer(many=True)
    timeline = ReturnEventSerializer(source="events", many=True)
    refunds = RefundSerializer(many=True)
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = ReturnRequest
        fields = ["number", "order", "status", "status_display", "resolution", "handling", "channel",
                  "exchange_sku", "warehouse", "customer_note", "decision", "item_due_by", "label",
                  "replacement_order", "lines", "refunds", "timeline", "allowed_transitions", "created_at",
                  "approved_at", "received_at", "resolved_at", "closed_at"]

    def get_warehouse(self, obj) -> str:
        return obj.warehouse.code if obj.warehouse_id and self.context.get("staff") else ""

    def get_label(self, obj) -> dict | None:
        from django.urls import reverse

        shipment = obj.label_shipment
        if shipment is None:
            return None
        return {"carrier": shipment.carrier.name, "tracking_number": shipment.tracking_number,
                "status": shipment.status, "url": reverse("portal:return-label", args=[obj.number])}

    def get_allowed_transitions(self, obj) -> list[str]:
        from .services import allowed_transitions

        if not self.context.get("staff"):  # a customer may withdraw their own open return
            return ["cancel"] if obj.is_open and not obj.replacement_order_id else []
        return [n for n in allowed_transitions(obj, self.context.get("viewer")) if n not in ("await_item", "inspect")]


