import functools
import secrets

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django_countries.fields import CountryField
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, FSMFieldMixin, FSMModelMixin, transition

from config.history import ChangeHistory

from . import timeline


@functools.cache
def _state_fields(model) -> tuple:
    return tuple(field for field in model._meta.fields if isinstance(field, FSMFieldMixin))


NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I: read aloud on the phone without mistakes


def new_number(prefix: str) -> str:
    """A human-readable number like WB-7K2M-XQ9P: 8 characters people read aloud without mistakes."""
    body = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"{prefix}-{body[:4]}-{body[4:]}"


def new_order_number() -> str:
    return new_number("WB")


class Order(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        CONFIRMED = "confirmed", "Confirmed"
        PROCESSING = "processing", "Processing"
        PACKED = "packed", "Packed"
        PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        RETURNED = "returned", "Returned to sender"
        ON_HOLD = "on_hold", "On hold"
        CANCELLED = "cancelled", "Cancelled"

    class PaymentStatus(models.TextChoices):
        UNPAID = "unpaid", "Unpaid"
        PARTIALLY_PAID = "partially_paid", "Partially paid"
        PAID = "paid", "Paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    class Channel(models.TextChoices):
        """Where an order came from (set by whoever places it, through order_place's `channel`)."""

        STOREFRONT = "storefront", "Storefront (API)"
        PHONE = "phone", "Phone or counter order (staff)"
        IMPORT = "import", "Imported"
        REPLACEMENT = "replacement", "Replacement or exchange"

    HOLDABLE = [Status.PLACED, Status.CONFIRMED, Status.PROCESSING]

    # Indexes are declared in Meta: a foreign key led by a composite index gets no index of its own, and the
    # number is unique through a constraint (no second pattern-ops index: nothing searches it by prefix).
    number = models.CharField(max_length=20, default=new_order_number, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="orders",
        help_text="Empty for a guest order, known by its email.", db_index=False,
    )
    email = models.EmailField("contact email")
    phone = models.CharField(
        max_length=32, blank=True,
        validators=[RegexValidator(r"^\+?[0-9 ()./-]{5,31}$", "Enter a phone number: digits, spaces, + ( ) - . /")],
    )
    # Destination
    ship_name = models.CharField("recipient", max_length=120)
    ship_line1 = models.CharField("address line 1", max_length=200)
    ship_line2 = models.CharField("address line 2", max_length=200, blank=True)
    ship_city = models.CharField("city", max_length=100)
    ship_postal_code = models.CharField("postal code", max_length=20, blank=True)
    ship_region = models.CharField("region", max_length=100, blank=True)
    ship_country = CountryField("country")

    currency = models.CharField(max_length=3, validators=[RegexValidator(r"^[A-Z]{3}$", "Use an ISO 4217 code.")])
    subtotal = models.DecimalField(max_digits=14, decimal_places=2)
    shipping_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID)
    amount_paid = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, db_default=0, editable=False,
        help_text="The sum of the payments received (Payment); written by order_record_payment only.",
    )
    refunded_total = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, editable=False,
        help_text="The sum of the refunds issued (returns.Refund); never more than the amount paid.",
    )
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replacement_orders",
        help_text="The order this one replaces or exchanges items of (a replacement sent after a claim).",
    )
    notes = models.TextField("customer notes", blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.STOREFRONT, editable=False)

    status = FSMField(default=Status.PLACED, choices=Status.choices, protected=True, db_index=False)
    status_before_hold = models.CharField(max_length=20, blank=True, editable=False)
    placed_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # each delivery address it had (written by order_change_address only); placing an order writes no history
    address_history = ChangeHistory(
        tracked=["number", "ship_name", "ship_line1", "ship_line2", "ship_city", "ship_postal_code", "ship_region",
                 "ship_country"],
        created_field="placed_at", record_creation=False, custom_model_name="HistoricalOrderAddress",
        verbose_name="historical order address", verbose_name_plural="historical order addresses")

    class Meta:
        ordering = ["-placed_at", "-id"]
        permissions = [
            ("cancel_order", "Can cancel orders"),
            ("transition_order", "Can move orders through their lifecycle"),
            ("add_internal_note", "Can add internal notes to orders"),
            ("ship_outside_waybill", "Can mark orders shipped outside Waybill (no parcel, no tracking)"),
            ("record_payment", "Can record payments received for orders"),
        ]
        indexes = [
            models.Index(fields=["-placed_at", "-id"], name="order_placed_desc"),
            models.Index(fields=["status", "-placed_at", "-id"], name="order_status_placed"),
            models.Index(fields=["customer", "-placed_at", "-id"], name="order_customer_placed"),
            models.Index(Upper("email"), name="order_email_upper"),
            models.Index(Upper("number"), name="order_number_upper"),
            # the unpaid-order expiry scan: only orders still waiting for payment, oldest first
            models.Index(fields=["placed_at"], name="order_awaiting_payment",
                         condition=Q(status__in=["placed", "confirmed"], payment_status="unpaid")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="order_number_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            # the last line of defence of refunds: never more back than was paid
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="order_amount_paid_not_negative"),
            models.CheckConstraint(condition=Q(refunded_total__gte=0)
                                   & Q(refunded_total__lte=models.F("amount_paid")),
                                   name="order_refunded_le_paid"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def state_fields(self):
        # django-fsm's ConcurrentTransitionMixin walks every field of the model for its state fields on each
        # instance it creates (an order page of 50 orders: 50 walks of 50 fields); they are the same for the class
        return _state_fields(type(self))

    @property
    def balance_due(self):
        """What the customer still has to pay: the total beyond the payments received (a refund never creates a
        debt). Above zero after items were added to a paid order."""
        return max(self.total - self.amount_paid, 0)

    @property
    def refund_due(self):
        """Money owed back and not refunded yet: everything paid for a cancelled order, else what was paid beyond
        the total (items removed from a paid order)."""
        if self.status == self.Status.CANCELLED:
            return max(self.amount_paid - self.refunded_total, 0)
        return max(self.amount_paid - self.total - self.refunded_total, 0)

    @property
    def reference_label(self) -> str:
        return f"order {self.number}"

    # --- lifecycle: in-memory state changes only; orders.services saves them under a row lock ----------------
    @transition(field=status, source=Status.PLACED, target=Status.CONFIRMED,
                permission="orders.transition_order", custom={"label": "Confirm"})
    def confirm(self, **kwargs):
        pass

    @transition(field=status, source=Status.CONFIRMED, target=Status.PROCESSING,
                permission="orders.transition_order", custom={"label": "Start processing"})
    def start_processing(self, **kwargs):
        pass

    # In the admin an order becomes packed when its parcels are (shipping does it); the API may still say so.
    @transition(field=status, source=Status.PROCESSING, target=Status.PACKED,
                permission="orders.transition_order", custom={"label": "Mark packed", "admin": False})
    def pack(self, **kwargs):
        pass

    @transition(field=status, source=[Status.PROCESSING, Status.PACKED, Status.PARTIALLY_SHIPPED],
                target=Status.PARTIALLY_SHIPPED, permission="orders.transition_order",
                custom={"admin": False, "api": False})
    def ship_partially(self, **kwargs):
        """Some lines have left the warehouse. Fired by the shipping service, not by a person."""

    @transition(field=status, source=[Status.PROCESSING, Status.PACKED, Status.PARTIALLY_SHIPPED],
                target=Status.SHIPPED, permission="orders.ship_outside_waybill",
                custom={"label": "Shipped outside Waybill", "form": "orders.forms.ReasonRequiredForm",
                        "help_text": "The goods left without a parcel in Waybill (no label, no tracking). Say how."})
    def ship(self, **kwargs):
        """Everything still reserved leaves at once, without a parcel: for goods sent outside Waybill. Parcels
        (shipping) ship an order through ship_partially and this transition's effects, never by a person's
        button."""

    @transition(field=status, source=Status.SHIPPED, target=Status.DELIVERED,
                permission="orders.transition_order", custom={"label": "Mark delivered"})
    def deliver(self, **kwargs):
        pass

    @transition(field=status, source=[Status.PARTIALLY_SHIPPED, Status.SHIPPED, Status.RETURNED],
                target=Status.RETURNED, permission="orders.transition_order", custom={"admin": False, "api": False})
    def return_to_sender(self, **kwargs):
        """A parcel came back undelivered and its units are in stock again. Fired by the shipping service; staff
        then send the order again (reship) or refund it."""

    @transition(field=status, source=Status.RETURNED, target=RETURN_VALUE(Status.PACKED, Status.PARTIALLY_SHIPPED),
                permission="orders.transition_order", custom={"admin": False, "api": False})
    def reship(self, **kwargs):
        """The returned units are reserved again to go out in a new parcel (partially shipped while other parcels
        of the order are still with the customer or the carrier)."""
        return self.Status.PARTIALLY_SHIPPED if any(line.shipped_quantity for line in self.lines.all()) \
            else self.Status.PACKED

    @transition(field=status, source=HOLDABLE, target=Status.CANCELLED, permission="orders.cancel_order",
                custom={"label": "Cancel", "form": "orders.forms.ReasonRequiredForm",
                        "help_text": "Releases the reserved stock and tells the customer, with your reason."})
    def cancel(self, **kwargs):
        pass

    @transition(field=status, source=HOLDABLE, target=Status.ON_HOLD, permission="orders.transition_order",
                custom={"label": "Put on hold", "form": "orders.forms.ReasonRequiredForm",
                        "help_text": "Stops the order where it is (the stock stays reserved) until someone releases "
                                     "it; the customer is told why."})
    def hold(self, **kwargs):
        self.status_before_hold = self.status

    @transition(field=status, source=Status.ON_HOLD, target=RETURN_VALUE(*HOLDABLE),
                permission="orders.transition_order", custom={"label": "Release hold"})
    def release(self, **kwargs):
        previous, self.status_before_hold = self.status_before_hold or self.Status.PLACED, ""
        return previous

    for _method in (confirm, start_processing, pack, ship_partially, ship, deliver, return_to_sender, reship, cancel,
                    hold, release):
        _method.alters_data = True
    del _method


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="order_lines")
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_total = models.DecimalField(max_digits=14, decimal_places=2)
    shipped_quantity = models.PositiveIntegerField(default=0)
    returned_quantity = models.PositiveIntegerField(
        "claimed in returns", default=0, editable=False,
        help_text="Units named by returns and claims that were not rejected or cancelled.",
    )
    backordered_quantity = models.PositiveIntegerField(
        "backordered", default=0, editable=False,
        help_text="Units ordered beyond the stock there was, waiting for a delivery (the product sells on backorder).",
    )
    backorder_expected_on = models.DateField("backorder expected", null=True, blank=True, editable=False)

    class Meta:
        ordering = ["order", "id"]
        indexes = [
            # receipts fill the waiting lines of a product, oldest first
            models.Index(fields=["product", "id"], name="orderline_waiting_backorder",
                         condition=Q(backordered_quantity__gt=0)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(backordered_quantity__lte=models.F("quantity")
                                                - models.F("shipped_quantity")),
                                   name="orderline_backordered_le_unshipped"),
            models.UniqueConstraint(fields=["order", "product"], name="orderline_unique_product_per_order"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(shipped_quantity__lte=models.F("quantity")),
                                   name="orderline_shipped_le_quantity"),
            # a unit is claimed once, and only after it left (the returns service checks "delivered")
            models.CheckConstraint(condition=Q(returned_quantity__lte=models.F("shipped_quantity")),
                                   name="orderline_returned_le_shipped"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class Allocation(models.Model):
    """Stock reserved for an order line at one warehouse. `quantity` stays reserved until shipped or released."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="allocations")
    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="allocations")
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="allocations",
                                  db_index=False)
    quantity = models.PositiveIntegerField(help_text="Units still reserved.")
    shipped = models.PositiveIntegerField(default=0)
    released = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        indexes = [
            models.Index(fields=["warehouse", "order"], name="allocation_warehouse_order"),
            # the fulfilment queue: units still reserved at a warehouse (shipped and released rows drop out)
            models.Index(fields=["warehouse", "order"], name="allocation_open_at_warehouse",
                         condition=Q(quantity__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} reserved at {self.warehouse_id}"


class OrderEvent(models.Model):
    """One entry on an order's timeline: a status change, a note, a payment, or a kind another app registered
    (orders.timeline). Written only by orders.services.order_event_record and the orders services."""

    class Kind:
        """The orders app's own kinds; other apps register theirs in orders.timeline."""

        STATUS = timeline.STATUS
        NOTE = timeline.NOTE
        PAYMENT = timeline.PAYMENT

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=40, default=Kind.STATUS, help_text="A kind registered in orders.timeline.")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    transition = models.CharField(max_length=40, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              help_text="Empty when the system made the change.")
    text = models.TextField(blank=True, help_text="What happened, or why, in words (a status change's reason).")
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder,
                            help_text="Structured facts: numbers, amounts, serials.")
    internal = models.BooleanField(default=False, help_text="Staff only: never shown to the customer.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # the timeline of one order, in order (the page and the API read exactly this)
            models.Index(fields=["order", "created_at", "id"], name="orderevent_order_timeline"),
            # every entry of one kind over a period (returns, refunds... for reports)
            models.Index(fields=["kind", "created_at"], name="orderevent_kind_time"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.STATUS:
            return f"{self.from_status or '—'} → {self.to_status}"
        return self.text[:60]

    @property
    def kind_label(self) -> str:
        return timeline.event_kind_label(self.kind)

    @property
    def customer_title(self) -> str:
        """The heading a customer reads above the entry: the new status, or the kind's customer title."""
        if self.kind == self.Kind.STATUS:
            return self.to_status_label
        if self.kind == self.Kind.PAYMENT:
            return f"Payment: {self.to_status_label.lower()}"
        return timeline.event_kind_customer_title(self.kind)

    @property
    def to_status_label(self) -> str:
        """The new status as people read it ("Partially shipped"); payment entries carry payment statuses."""
        labels = dict(Order.PaymentStatus.choices if self.kind == self.Kind.PAYMENT else Order.Status.choices)
        return labels.get(self.to_status, self.to_status)

    @property
    def actor_label(self) -> str:
        return self.actor.get_username() if self.actor_id else "system"


class IdempotencyKey(models.Model):
    """Remembers an order-creation request so a retried request returns the same order."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body.")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_owner_key")]

    def __str__(self) -> str:
        return self.key


class Payment(models.Model):
    """Money received for an order (a card capture, a bank transfer, cash at the counter), as the shop's payment
    provider reported it. The order's amount_paid is their sum, kept under the order's row lock; a provider's
    reference is recorded once per order, so a repeated report of the same payment counts once."""

    class Method(models.TextChoices):
        CARD = "card", "Card"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CASH = "cash", "Cash"
        OTHER = "other", "Other"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.CARD)
    reference = models.CharField(max_length=100, blank=True,
                                 help_text="The payment provider's id for it (a capture or transfer reference).")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(fields=["order", "reference"], condition=~Q(reference=""),
                                    name="payment_reference_once_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} ({self.get_method_display()})"


class IdempotentResponse(models.Model):
    """The answer to a state-changing API request sent with an Idempotency-Key: the same key and request again get
    the same answer, without acting twice. Written by orders.idempotency in the request's transaction (for order
    creation, claimed by the placement's first statement; IdempotencyKey is then for callers of the service)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and canonical body.")
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(encoder=DjangoJSONEncoder)
    content = models.TextField(blank=True, default="", help_text="The answer as it was sent (JSON text, in its "
                               "order: PostgreSQL's jsonb keeps the keys of `body` in an order of its own).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotentresponse_unique_owner_key")]

    def __str__(self) -> str:
        return self.key


class InvoiceSequence(models.Model):
    """The last invoice number given in a year: invoices are numbered without gaps (the row is locked while one
    is issued, and a rolled-back issue gives its number back)."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Invoice(models.Model):
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="invoice")
    number = models.CharField(max_length=32, unique=True)
    issued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.number


class ExportJob(models.Model):
    """A large export (a million orders) written by a worker in the background; its page shows the progress and,
    when done, the file to download (only for the person who asked and staff who may see orders)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, default="orders")
    params = models.JSONField(default=dict, blank=True, help_text="The filters of the export.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(null=True, blank=True)
    done_rows = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.kind})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done_rows / self.total) if self.total else 0


class OrderDraft(models.Model):
    """A phone or counter order being put together: nothing is reserved until it is placed (then it points to
    the order, and stays as it was)."""

    data = models.JSONField(default=dict, help_text="The order form as it was last saved.")
    label = models.CharField(max_length=200, blank=True, help_text="Who it is for, as the list shows it.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    placed_order = models.OneToOneField(Order, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="draft")

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = "draft order"

    def __str__(self) -> str:
        return f"Draft {self.pk}" + (f" · {self.label}" if self.label else "")
