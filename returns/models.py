"""After-sales: return requests and claims (RMAs), their lines and photos, their timeline, and refunds.

A return request follows one lifecycle whatever is being asked for:

    requested → approved → awaiting item → received → inspected → resolved → closed
              ↘ rejected                                    cancelled from requested, approved, awaiting item

How the item is handled is decided at approval: it comes back first (`return`), the customer keeps it (`keep_it`:
low value, missing item, transit damage), or a replacement leaves at once and the faulty unit is expected back
within a few days (`advance_replacement`). Every write goes through returns.services, under the order's row lock.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from orders.models import new_number


def new_return_number() -> str:
    return new_number("RT")


class Reason(models.TextChoices):
    DEFECTIVE = "defective", "Defective"
    DAMAGED_IN_TRANSIT = "damaged_in_transit", "Damaged in transit"
    WRONG_ITEM = "wrong_item", "Wrong item sent"
    NOT_AS_DESCRIBED = "not_as_described", "Not as described"
    MISSING_ITEM = "missing_item", "Missing from the parcel"
    NO_LONGER_WANTED = "no_longer_wanted", "No longer wanted"


# Reasons where the shop is at fault: a final-sale product may still be claimed, and the claim counts as a defect
# or a fulfilment error in the reports.
SHOP_AT_FAULT = {Reason.DEFECTIVE, Reason.DAMAGED_IN_TRANSIT, Reason.WRONG_ITEM, Reason.NOT_AS_DESCRIBED,
                 Reason.MISSING_ITEM}


class ReturnRequest(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        AWAITING_ITEM = "awaiting_item", "Awaiting the item"
        RECEIVED = "received", "Received"
        INSPECTED = "inspected", "Inspected"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    class Resolution(models.TextChoices):
        REFUND = "refund", "Refund"
        REPLACEMENT = "replacement", "Replacement"
        EXCHANGE = "exchange", "Exchange for another item"

    class Handling(models.TextChoices):
        RETURN = "return", "Item comes back first"
        KEEP_IT = "keep_it", "Customer keeps the item"
        ADVANCE_REPLACEMENT = "advance_replacement", "Replacement sent now, faulty item back later"

    class Channel(models.TextChoices):
        PORTAL = "portal", "Customer portal"
        SUPPORT = "support", "Support"
        STAFF = "staff", "Staff"
        API = "api", "API"

    OPEN = [Status.REQUESTED, Status.APPROVED, Status.AWAITING_ITEM]
    # a return in one of these still claims its units (rejected and cancelled ones give them back)
    CLAIMING = [Status.REQUESTED, Status.APPROVED, Status.AWAITING_ITEM, Status.RECEIVED, Status.INSPECTED,
                Status.RESOLVED, Status.CLOSED]

    number = models.CharField(max_length=20, default=new_return_number, editable=False)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="returns", db_index=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="returns", help_text="Empty for a guest order's return.",
                                 db_index=False)
    email = models.EmailField("contact email")
    status = FSMField(default=Status.REQUESTED, choices=Status.choices, protected=True, db_index=False)
    resolution = models.CharField("requested resolution", max_length=20, choices=Resolution.choices)
    handling = models.CharField(max_length=24, choices=Handling.choices, default=Handling.RETURN,
                                help_text="Decided by staff when they approve.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.STAFF)
    exchange_product = models.ForeignKey("inventory.Product", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", help_text="The item wanted instead (an exchange).")
    warehouse = models.ForeignKey("inventory.Warehouse", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", help_text="Where the item comes back to.")
    label_shipment = models.OneToOneField("shipping.Shipment", null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="return_request", help_text="The return parcel (label).")
    replacement_order = models.OneToOneField("orders.Order", null=True, blank=True, on_delete=models.PROTECT,
                                             related_name="replacing_return")
    customer_note = models.TextField("what the customer wrote", blank=True)
    decision = models.TextField(blank=True, help_text="Why it was rejected, or the instructions sent on approval.")
    item_due_by = models.DateField(null=True, blank=True,
                                   help_text="Advance replacement: when the faulty item must be back with us.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_returnrequest", "Can approve, reject and resolve returns"),
            ("receive_returnrequest", "Can receive returned items"),
            ("inspect_returnrequest", "Can inspect returned items"),
            ("refund_returnrequest", "Can issue refunds"),
            ("replace_returnrequest", "Can send replacements and exchanges"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="return_created_desc"),
            models.Index(fields=["status", "-created_at", "-id"], name="return_status_created"),
            models.Index(fields=["order", "created_at"], name="return_order"),
            models.Index(fields=["customer", "-created_at", "-id"], name="return_customer_created"),
            models.Index(Upper("number"), name="return_number_upper"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="return_number_unique"),
            models.CheckConstraint(condition=~Q(resolution="exchange") | Q(exchange_product__isnull=False),
                                   name="return_exchange_names_product"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def reference_label(self) -> str:
        return f"return {self.number}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    # --- lifecycle: in-memory only; returns.services saves under the order's row lock ------------------------
    @transition(field=status, source=Status.REQUESTED, target=Status.APPROVED,
                permission="returns.approve_returnrequest", custom={"label": "Approve"})
    def approve(self, **kwargs):
        pass

    @transition(field=status, source=Status.REQUESTED, target=Status.REJECTED,
                permission="returns.approve_returnrequest", custom={"label": "Reject"})
    def reject(self, **kwargs):
        pass

    @transition(field=status, source=Status.APPROVED, target=Status.AWAITING_ITEM,
                permission="returns.approve_returnrequest", custom={"label": "Wait for the item", "api": False})
    def await_item(self, **kwargs):
        """The customer was sent the return label (or told how to send the item back)."""

    @transition(field=status, source=Status.AWAITING_ITEM, target=Status.RECEIVED,
                permission="returns.receive_returnrequest", custom={"label": "Receive"})
    def receive(self, **kwargs):
        pass

    @transition(field=status, source=Status.RECEIVED, target=Status.INSPECTED,
                permission="returns.inspect_returnrequest", custom={"label": "Inspect", "api": False})
    def inspect(self, **kwargs):
        """Through returns.services.return_inspect, with a disposition per line."""

    @transition(field=status, source=[Status.APPROVED, Status.INSPECTED], target=Status.RESOLVED,
                permission="returns.approve_returnrequest",
                custom={"label": "Resolve", "api": False})
    def resolve(self, **kwargs):
        """Through returns.services.return_resolve: the refund, replacement or exchange is issued."""

    @transition(field=status, source=Status.RESOLVED, target=Status.CLOSED,
                permission="returns.approve_returnrequest", custom={"label": "Close"})
    def close(self, **kwargs):
        pass

    @transition(field=status, source=OPEN, target=Status.CANCELLED, permission="returns.approve_returnrequest",
                custom={"label": "Cancel"})
    def cancel(self, **kwargs):
        pass

    for _method in (approve, reject, await_item, receive, inspect, resolve, close, cancel):
        _method.alters_data = True
    del _method


class ReturnLine(models.Model):
    class Disposition(models.TextChoices):
        NONE = "", "Not inspected"
        RESTOCK = "restock", "Restock (sellable)"
        REFURBISH = "refurbish", "Refurbish"
        SCRAP = "scrap", "Scrap"
        RETURN_TO_VENDOR = "return_to_vendor", "Return to the vendor"

    return_request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="return_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    reason = models.CharField(max_length=24, choices=Reason.choices)
    description = models.TextField(blank=True)
    unit = models.ForeignKey("inventory.Unit", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="return_lines", help_text="The unit returned (serial-tracked products).")
    replacement_unit = models.ForeignKey("inventory.Unit", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="replaced_lines", help_text="The unit sent in its place.")
    disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    disposition_warehouse = models.ForeignKey("inventory.Warehouse", null=True, blank=True,
                                              on_delete=models.PROTECT, related_name="+")
    inspection_note = models.TextField(blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)
    inspected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["return_request", "id"]
        indexes = [models.Index(fields=["reason"], name="returnline_reason")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="returnline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit__isnull=True) | Q(quantity=1), name="returnline_one_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.order_line.sku}" if self.order_line_id else f"{self.quantity} ×"

    @property
    def serial(self) -> str:
        return self.unit.serial if self.unit_id else ""


def _photo_path(instance, filename: str) -> str:
    import uuid

    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"returns/{instance.line.return_request.number}/{uuid.uuid4().hex}.{extension}"


class ReturnPhoto(models.Model):
    line = models.ForeignKey(ReturnLine, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to=_photo_path)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField(help_text="Bytes.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["line", "id"]

    def __str__(self) -> str:
        return self.image.name


class ReturnEvent(models.Model):
    """One entry on a return's own timeline (the order's timeline gets the customer-facing story as well)."""

    class Kind(models.TextChoices):
        STATUS = "status", "Status change"
        NOTE = "note", "Note"
        LABEL = "label", "Return label"
        REFUND = "refund", "Refund"
        REPLACEMENT = "replacement", "Replacement"
        INSPECTION = "inspection", "Inspection"
        PARCEL = "parcel", "Return parcel"
        ALERT = "alert", "Staff alert"

    return_request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="events",
                                       db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.STATUS)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    internal = models.BooleanField(default=False, help_text="Staff only: never shown to the customer.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["return_request", "created_at", "id"], name="returnevent_timeline")]

    def __str__(self) -> str:
        return self.text[:60] or f"{self.from_status} → {self.to_status}"


class Refund(models.Model):
    """Money given back on an order: for a return's items, for shipping, or for an order that came back to us.

    The order's refunded_total is the sum of its refunds (kept under the order's row lock) and a constraint on the
    order keeps it at or below the total paid.
    """

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="refunds", db_index=False)
    return_request = models.ForeignKey(ReturnRequest, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="refunds")
    items_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    shipping_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="items + shipping")
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255)
    provider_reference = models.CharField(max_length=100, blank=True,
                                          help_text="The payment provider's id for the refund, where there is one.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["order", "created_at"], name="refund_order")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(items_amount__gte=0) & Q(shipping_amount__gte=0),
                                   name="refund_parts_not_negative"),
            models.CheckConstraint(condition=Q(amount=F("items_amount") + F("shipping_amount")),
                                   name="refund_amount_is_sum"),
            models.UniqueConstraint(fields=["order", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="refund_unique_key_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on {self.order_id}"
