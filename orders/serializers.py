import threading
from decimal import Decimal

from django_countries import countries
from django_countries.serializer_fields import CountryField
from rest_framework import serializers

from .models import Allocation, Order, OrderEvent, OrderLine, Payment


class IsoCountryField(CountryField):
    """A country as the schema says: an ISO 3166-1 alpha-2 code ("DE"). A name, an alpha-3 or numeric code or a
    lower-case code is refused with the code to use ("Germany" → "use DE"), never silently translated."""

    def to_internal_value(self, data):
        if isinstance(data, str) and data in countries:
            return data
        suggestion = ""
        if isinstance(data, str) and data.strip():
            text = data.strip()
            suggestion = countries.alpha2(text) or countries.by_name(text) or countries.by_name(text, language="en")
        if suggestion:
            raise serializers.ValidationError(f"Use the ISO 3166-1 alpha-2 code: use {suggestion} for "
                                              f"{countries.name(suggestion)}.", code="country_code")
        raise serializers.ValidationError("Give the country's ISO 3166-1 alpha-2 code, e.g. DE.", code="invalid_choice")


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    country = IsoCountryField(help_text="ISO 3166-1 alpha-2 code, e.g. DE (not the country's name).")


class LineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


class OrderCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, help_text="Staff: the contact email (a guest order needs one). "
                                   "A customer's orders always use their account's email.")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    customer = serializers.IntegerField(required=False, help_text="Staff only: the customer's user id.")
    shipping_address = AddressSerializer()
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=200)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False,
                                      help_text="ISO 4217. Optional: orders are always in the shop's currency, and "
                                      "another one is refused.")
    shipping_total = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False,
        help_text="Staff: shipping priced by hand. Customers: optional, what the shop quoted (another figure is "
        "refused). Left out: the shop's rate.")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_lines(self, lines):
        skus = [line["sku"] for line in lines]
        duplicates = sorted({s for s in skus if skus.count(s) > 1})
        if duplicates:
            raise serializers.ValidationError(f"Each SKU once per order; repeated: {', '.join(duplicates)}.")
        return lines


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["id", "sku", "name", "quantity", "unit_price", "line_total", "shipped_quantity",
                  "backordered_quantity", "backorder_expected_on"]


class AllocationSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code")
    sku = serializers.SerializerMethodField()

    class Meta:
        model = Allocation
        fields = ["line", "sku", "warehouse", "quantity", "shipped", "released"]

    def get_sku(self, obj) -> str:
        return self.context["sku_by_line"].get(obj.line_id, "")


class OrderEventSerializer(serializers.ModelSerializer):
    """A timeline entry. Staff see who did it; a customer sees "you", "customer service" or "system"."""

    actor = serializers.SerializerMethodField()

    class Meta:
        model = OrderEvent
        fields = ["kind", "from_status", "to_status", "transition", "actor", "text", "data", "internal", "created_at"]

    def get_actor(self, obj) -> str:
        viewer = self.context.get("viewer")
        if viewer is None or viewer.is_staff or not obj.actor_id:
            return obj.actor_label
        return "you" if obj.actor_id == viewer.pk else "customer service"


class AddressOutSerializer(serializers.Serializer):
    name = serializers.CharField(source="ship_name")
    line1 = serializers.CharField(source="ship_line1")
    line2 = serializers.CharField(source="ship_line2")
    city = serializers.CharField(source="ship_city")
    postal_code = serializers.CharField(source="ship_postal_code")
    region = serializers.CharField(source="ship_region")
    country = serializers.CharField(source="ship_country.code")


class OrderListSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", allow_null=True)

    class Meta:
        model = Order
        fields = ["number", "status", "payment_status", "customer", "email", "currency", "subtotal",
                  "shipping_total", "total", "placed_at", "updated_at"]


class OrderDetailSerializer(OrderListSerializer):
    schema_optional_fields = ("allocations",)  # staff only (get_fields): not required in the schema
    shipping_address = AddressOutSerializer(source="*")
    lines = OrderLineSerializer(many=True)
    allocations = serializers.SerializerMethodField()
    timeline = OrderEventSerializer(source="events", many=True)

    amount_paid = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True,
                                           help_text="The sum of the payments received.")
    refunded_total = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    balance_due = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True,
                                           help_text="Still to pay: the total beyond the payments received.")
    refund_due = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True,
                                          help_text="Paid beyond the total and not refunded yet (items removed).")

    class Meta(OrderListSerializer.Meta):
        fields = OrderListSerializer.Meta.fields + ["amount_paid", "refunded_total", "balance_due", "refund_due",
                                                    "phone", "notes", "shipping_address", "lines", "allocations",
                                                    "timeline"]

    def get_allocations(self, obj) -> list[dict]:
        sku_by_line = {line.id: line.sku for line in obj.lines.all()}
        return AllocationSerializer(obj.allocations.all(), many=True, context={"sku_by_line": sku_by_line}).data

    def get_fields(self):
        fields = super().get_fields()
        viewer = self.context.get("viewer")
        if viewer is not None and not viewer.is_staff:
            fields.pop("allocations")  # which warehouse holds what is the shop's business
        return fields


class TransitionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    internal = serializers.BooleanField(default=True)


class LineChangeSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=0, max_value=10_000, help_text="The new quantity; 0 removes it.")


class OrderLinesEditSerializer(serializers.Serializer):
    changes = LineChangeSerializer(many=True, allow_empty=False, max_length=200)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DraftLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


class DraftAddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    line1 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    country = serializers.CharField(max_length=2, required=False, allow_blank=True, default="",
                                    help_text="ISO 3166-1 alpha-2, checked when the draft is placed.")


class OrderDraftWriteSerializer(serializers.Serializer):
    """A draft may be incomplete: everything is checked when it is placed."""

    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    shipping_address = DraftAddressSerializer(required=False, default=dict)
    lines = DraftLineSerializer(many=True, required=False, default=list, max_length=200)
    shipping_total = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                                              allow_null=True, default=None)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class OrderDraftSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    placed_order = serializers.CharField(source="placed_order.number", default=None, allow_null=True)


class PaymentSerializer(serializers.ModelSerializer):
    recorded_by = serializers.CharField(source="recorded_by.username", default="", read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "amount", "method", "reference", "recorded_by", "created_at"]


class PaymentCreateSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    method = serializers.ChoiceField(choices=Payment.Method.choices, default=Payment.Method.CARD)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                      help_text="The payment provider's id: the same reference counts once.")
_built = threading.local()


def order_detail_data(order, *, viewer) -> dict:
    """What `OrderDetailSerializer(order, context={"viewer": viewer}).data` holds, from a serializer whose fields
    are built once per thread and kind of viewer (building DRF's fields is most of the cost of answering for one
    order; tests/orders/test_apis.py checks the two answer the same)."""
    sees_all = viewer is None or viewer.is_staff  # customers are not shown allocations (get_fields)
    serializers_built = getattr(_built, "order_detail", None)
    if serializers_built is None:
        serializers_built = _built.order_detail = {}
    serializer = serializers_built.get(sees_all)
    if serializer is None:
        serializer = OrderDetailSerializer(context={"viewer": viewer})
        serializer.fields  # noqa: B018 - built now, for this kind of viewer
        serializers_built[sees_all] = serializer
    serializer._context = {"viewer": viewer}
    try:
        return serializer.to_representation(order)
    finally:
        serializer._context = {}


def order_create_data(data) -> dict:
    """`OrderCreateSerializer(data=data)` validated: its validated data, or the ValidationError `is_valid(
    raise_exception=True)` raises, from a serializer built once per thread (validation keeps no state on it)."""
    serializer = getattr(_built, "order_create", None)
    if serializer is None:
        serializer = _built.order_create = OrderCreateSerializer()
        serializer.fields  # noqa: B018 - built now
    try:
        return serializer.run_validation(data)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError(exc.detail) from None
