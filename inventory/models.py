from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from config.history import ChangeHistory


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    category = models.CharField(max_length=64, blank=True,
                                help_text="The group it is reported under, e.g. Phones or Accessories.")
    active = models.BooleanField(default=True)
    ean = models.CharField(
        "EAN / GTIN", max_length=14, blank=True, db_index=True,
        validators=[RegexValidator(r"^(\d{8}|\d{12,14})$", "8, 12, 13 or 14 digits.")],
        help_text="The barcode on the box: the pack station accepts it as well as the SKU.",
    )
    low_stock_threshold = models.PositiveIntegerField(
        default=5, help_text="Alert staff when available stock (on hand − allocated) falls to this or below."
    )
    class SerialFormat(models.TextChoices):
        SERIAL = "serial", "Serial number (3 to 64 letters, digits, dots, slashes, dashes)"
        IMEI = "imei", "IMEI (15 digits with a valid check digit)"

    serial_tracked = models.BooleanField(
        "units carry serial numbers", default=False,
        help_text="Each unit is identified by a serial number, scanned when it is packed.",
    )
    serial_format = models.CharField(max_length=10, choices=SerialFormat.choices, default=SerialFormat.SERIAL)
    return_window_days = models.PositiveSmallIntegerField(
        "return window (days)", null=True, blank=True,
        help_text="Days after delivery a customer may return it. Empty: the shop's default.",
    )
    allow_backorder = models.BooleanField(
        "sell on backorder", default=False,
        help_text="Orders may take more than is in stock: the rest waits for the next delivery, first come first "
                  "served, and the customer is told when it is reserved.")
    restock_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Days until a backordered unit is expected (the supplier's lead time). "
                                         "Empty: the shop's default.")
    final_sale = models.BooleanField(
        default=False, help_text="Sold as final: no return for a change of mind (defects and transit damage are "
        "still claimed).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # who changed the price (or the name, or took it off sale), and when: the admin's History
    history = ChangeHistory(tracked=["sku", "name", "price", "active"], created_field="created_at")

    # What the shop sells and for how much: changed only with inventory.manage_catalogue, which the warehouse
    # role does not have (it keeps the operational fields: stock alerts and serial numbers).
    CATALOGUE_FIELDS = ("sku", "name", "price", "category", "active", "return_window_days", "final_sale",
                        "allow_backorder")

    class Meta:
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]
        permissions = [("manage_catalogue", "Can add products and change their names, prices and sale terms")]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"


class Warehouse(models.Model):
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=120)
    address = models.TextField(blank=True)
    priority = models.PositiveIntegerField(
        default=100, help_text="Lower numbers are tried first when allocating an order (1 = first choice)."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class StockLevel(models.Model):
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(default=0)
    allocated = models.IntegerField(default=0)
    bin = models.CharField(
        "bin location", max_length=32, blank=True,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9 ./-]*$",
                                   "Letters, digits, spaces, dots, slashes and dashes.")],
        help_text="Where it sits in the warehouse, e.g. A-03-2 (aisle, rack, shelf): pick lists walk the bins in "
                  "order.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product__sku", "warehouse__priority"]
        constraints = [
            models.UniqueConstraint(fields=["product", "warehouse"], name="stocklevel_unique_product_warehouse"),
            models.CheckConstraint(condition=Q(allocated__gte=0), name="stocklevel_allocated_not_negative"),
            models.CheckConstraint(condition=Q(allocated__lte=F("on_hand")), name="stocklevel_allocated_le_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.warehouse.code}"

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated


class Referenced(models.Model):
    """What caused a ledger line or a unit's step (an order, a shipment, a transfer, a return...) and a label
    people can read; inventory.services.stock._reference_fields fills them."""

    reference_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, db_index=False)
    reference_id = models.PositiveBigIntegerField(null=True, blank=True)
    reference = GenericForeignKey("reference_type", "reference_id")
    reference_label = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True


class StockMovement(Referenced):
    """One line of the stock ledger. A level's on_hand and allocated are the sums of its movements' deltas."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ALLOCATION = "allocation", "Allocation"
        RELEASE = "release", "Release"
        SHIPMENT = "shipment", "Shipment"
        RETURN_TO_STOCK = "return_to_stock", "Return to stock"
        ADJUSTMENT = "adjustment", "Adjustment"
        WRITE_OFF = "write_off", "Write-off"
        TRANSFER = "transfer", "Transfer"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # product and reference_type lead the composite indexes below: no single-column index of their own
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements", db_index=False)
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    quantity = models.PositiveIntegerField(help_text="Units moved (always positive; the deltas carry the sign).")
    on_hand_delta = models.IntegerField(default=0)
    allocated_delta = models.IntegerField(default=0)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["product", "warehouse", "created_at"], name="movement_level_time"),
            models.Index(fields=["reference_type", "reference_id"], name="movement_reference"),
            models.Index(Upper("reference_label"), name="movement_reference_label_upper"),  # the admin's search
        ]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="movement_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity} × {self.product_id} @ {self.warehouse_id}"


class LowStockAlert(models.Model):
    """Raised when a product's available stock (all warehouses) falls to or below its threshold."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="low_stock_alerts")
    available = models.IntegerField()
    threshold = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["product"], condition=Q(resolved_at__isnull=True), name="lowstockalert_one_open_per_product"
            )
        ]

    def __str__(self) -> str:
        return f"Low stock: {self.product_id} ({self.available} ≤ {self.threshold})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


def serial_text(raw) -> str:
    """A serial as typed or scanned, as it is stored: whitespace removed (scanners and people add it), upper case."""
    return "".join(str(raw or "").split()).upper()


class Unit(models.Model):
    """One physical unit of a serial-tracked product, known by its serial number (IMEI for phones)."""

    class Status(models.TextChoices):
        IN_STOCK = "in_stock", "In stock"
        PACKED = "packed", "Packed in a parcel"
        WITH_CUSTOMER = "with_customer", "With a customer"
        AWAITING_INSPECTION = "awaiting_inspection", "Back with us, awaiting inspection"
        REFURBISHING = "refurbishing", "Being refurbished"
        SCRAPPED = "scrapped", "Scrapped"
        RETURNED_TO_VENDOR = "returned_to_vendor", "Returned to the vendor"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="units", db_index=False)
    serial = models.CharField("serial number", max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_STOCK)
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="units",
                                  help_text="Where the unit is while it is with us.")
    batch = models.CharField("receipt batch", max_length=64, blank=True,
                             help_text="The delivery it arrived with, where recorded.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product", "serial"]
        constraints = [models.UniqueConstraint(fields=["product", "serial"], name="unit_unique_serial_per_product")]
        indexes = [models.Index(fields=["serial"], name="unit_serial")]  # lookups by serial alone (any product)

    def __str__(self) -> str:
        return self.serial

    @property
    def reference_label(self) -> str:
        return f"unit {self.serial}"


class UnitEvent(Referenced):
    """One step in a unit's life: received, packed, shipped (to which order), returned, inspected, restocked,
    scrapped, sent as a replacement. A unit's history is one query on this table."""

    class Kind(models.TextChoices):
        RECEIVED = "received", "Received"
        PACKED = "packed", "Packed"
        UNPACKED = "unpacked", "Taken out of a cancelled parcel"
        SHIPPED = "shipped", "Shipped"
        BACK_TO_STOCK = "back_to_stock", "Back in stock (parcel returned to sender)"
        RETURN_RECEIVED = "return_received", "Returned by the customer"
        INSPECTED = "inspected", "Inspected"
        RESTOCKED = "restocked", "Restocked"
        REFURBISHED = "refurbished", "Sent for refurbishment"
        SCRAPPED = "scrapped", "Scrapped"
        RETURNED_TO_VENDOR = "returned_to_vendor", "Returned to the vendor"

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Unit.Status.choices, help_text="The unit's status after it.")
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    order_number = models.CharField(max_length=20, blank=True, help_text="The order it went out with or came "
                                    "back from.")
    replacement = models.BooleanField(default=False, help_text="Shipped in place of a faulty unit.")
    text = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["unit", "created_at", "id"], name="unitevent_unit_history"),
            models.Index(fields=["order_number"], condition=~Q(order_number=""), name="unitevent_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.unit_id}"


class GoodsReceipt(models.Model):
    """A delivery booked in at a warehouse: who sent it, their delivery note, and a quantity per product (with
    the serial number of each unit for serial-tracked products). Its ledger lines and units name it."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="receipts")
    supplier = models.CharField(max_length=200)
    reference = models.CharField("delivery note", max_length=100, blank=True,
                                 help_text="The supplier's delivery note or invoice number: booked once only.")
    note = models.TextField(blank=True)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # one delivery note is booked once (a double click, a retried request): the last line of defence
            models.UniqueConstraint(Upper("supplier"), Upper("reference"), "warehouse",
                                    condition=~Q(reference=""), name="goodsreceipt_unique_delivery_note"),
        ]

    def __str__(self) -> str:
        return f"Receipt {self.pk} · {self.supplier}" + (f" · {self.reference}" if self.reference else "")

    @property
    def reference_label(self) -> str:
        return f"receipt {self.pk}"


class GoodsReceiptLine(models.Model):
    receipt = models.ForeignKey(GoodsReceipt, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    serials = models.JSONField(default=list, blank=True, help_text="The units' serial numbers, as received.")

    class Meta:
        ordering = ["receipt", "id"]
        constraints = [
            models.UniqueConstraint(fields=["receipt", "product"], name="goodsreceiptline_product_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="goodsreceiptline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id}"
