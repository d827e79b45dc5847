from rest_framework import serializers

from .models import Product, StockLevel, StockMovement, Warehouse


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "sku", "name", "category", "price", "active", "low_stock_threshold", "serial_tracked",
                  "serial_format", "created_at"]
        read_only_fields = ["id", "created_at"]


class WarehouseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Warehouse
        fields = ["id", "code", "name", "address", "priority", "active"]


class StockLevelSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    warehouse = serializers.CharField(source="warehouse.code")
    available = serializers.IntegerField()

    class Meta:
        model = StockLevel
        fields = ["id", "sku", "warehouse", "bin", "on_hand", "allocated", "available", "updated_at"]


class StockMovementSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    warehouse = serializers.CharField(source="warehouse.code")
    actor = serializers.SerializerMethodField()

    class Meta:
        model = StockMovement
        fields = ["id", "kind", "sku", "warehouse", "quantity", "on_hand_delta", "allocated_delta", "reason",
                  "actor", "reference_label", "created_at"]

    def get_actor(self, obj) -> str:
        return obj.actor.get_username() if obj.actor_id else "system"


class _ProductWarehouse(serializers.Serializer):
    sku = serializers.SlugRelatedField(slug_field="sku", queryset=Product.objects.all(), source="product")
    warehouse = serializers.SlugRelatedField(slug_field="code", queryset=Warehouse.objects.all())


class StockReceiveSerializer(_ProductWarehouse):
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class StockAdjustSerializer(_ProductWarehouse):
    delta = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
    reason = serializers.CharField(max_length=255)
    write_off = serializers.BooleanField(default=False)

    def validate_delta(self, value):
        if value == 0:
            raise serializers.ValidationError("Must not be zero.")
        return value


class StockTransferSerializer(serializers.Serializer):
    sku = serializers.SlugRelatedField(slug_field="sku", queryset=Product.objects.all(), source="product")
    source = serializers.SlugRelatedField(slug_field="code", queryset=Warehouse.objects.all())
    destination = serializers.SlugRelatedField(slug_field="code", queryset=Warehouse.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class UnitEventSerializer(serializers.Serializer):
    kind = serializers.CharField()
    kind_display = serializers.CharField(source="get_kind_display")
    status = serializers.CharField()
    warehouse = serializers.CharField(source="warehouse.code", default=None)
    order_number = serializers.CharField()
    replacement = serializers.BooleanField()
    reference = serializers.CharField(source="reference_label")
    text = serializers.CharField()
    actor = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_actor(self, obj) -> str:
        return obj.actor.get_username() if obj.actor_id else "system"


class UnitSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    serial = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    warehouse = serializers.CharField(source="warehouse.code", default=None)
    batch = serializers.CharField()
    history = UnitEventSerializer(many=True, help_text="Oldest first.")


class SerialLookupSerializer(serializers.Serializer):
    serial = serializers.CharField()
    units = UnitSerializer(many=True, help_text="One per product that has this serial number (usually one).")


class BinSerializer(serializers.Serializer):
    bin = serializers.CharField(max_length=32, allow_blank=True, help_text="e.g. A-03-2; empty clears it.")


class GoodsReceiptLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    serials = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=10_000,
                                    help_text="For serial-tracked products: one per unit.")


class GoodsReceiptCreateSerializer(serializers.Serializer):
    warehouse = serializers.CharField(max_length=16, help_text="Warehouse code.")
    supplier = serializers.CharField(max_length=200)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                      help_text="The supplier's delivery note: booked once only.")
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    lines = GoodsReceiptLineSerializer(many=True, allow_empty=False, max_length=500)


class GoodsReceiptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    warehouse = serializers.CharField(source="warehouse.code")
    supplier = serializers.CharField()
    reference = serializers.CharField()
    note = serializers.CharField()
    received_at = serializers.DateTimeField()
    lines = serializers.SerializerMethodField()

    def get_lines(self, obj) -> list[dict]:
        return [{"sku": line.product.sku, "quantity": line.quantity, "serials": line.serials}
                for line in obj.lines.all()]
