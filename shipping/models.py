"""Shipments: parcels that carry an order's lines from one warehouse to the customer.

Stock leaves the ledger when the carrier takes the parcel (`hand_over`: label created → in transit), not
earlier: until then a shipment can be cancelled and the units stay reserved for the order.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from config.history import ChangeHistory


class Carrier(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    tracking_url_template = models.CharField(
        max_length=255, blank=True, help_text="Where a person follows the parcel, e.g. "
        "https://carrier.example/track/{tracking_number}",
    )
    webhook_secret = models.CharField(max_length=128, help_text="Signs the tracking events the carrier sends us.")
    generates_tracking_numbers = models.BooleanField(
        "we issue tracking numbers", default=False,
        help_text="Our own courier: a tracking number is generated when the label is created.",
    )
    tracking_number_prefix = models.CharField(max_length=8, blank=True)
    tracking_number_pattern = models.CharField(
        max_length=200, blank=True, help_text="Regular expression a tracking number entered by staff must match.",
    )
    transit_days = models.PositiveSmallIntegerField(default=2, help_text="Promised days from hand-over to door.")
    active = models.BooleanField(default=True)
    # every change but the webhook secret, which is never copied anywhere
    history = ChangeHistory(tracked=["code", "name", "tracking_url_template", "generates_tracking_numbers",
                                     "tracking_number_prefix", "tracking_number_pattern", "transit_days", "active"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def tracking_url(self, tracking_number: str) -> str:
        if not (self.tracking_url_template and tracking_number):
            return ""
        return self.tracking_url_template.replace("{tracking_number}", tracking_number)


class ParcelSize(models.TextChoices):
    SMALL = "S", "Small (up to 35 × 25 × 10 cm)"
    MEDIUM = "M", "Medium (up to 60 × 30 × 30 cm)"
    LARGE = "L", "Large (up to 120 × 60 × 60 cm)"


class PickWave(models.Model):
    """A batch pick list: parcels of several orders at one warehouse, picked in one walk through the bins."""

    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "pick wave"

    def __str__(self) -> str:
        return f"Wave {self.pk} · {self.warehouse_id and self.warehouse.code}"


class Shipment(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PICKED = "picked", "Picked"
        PACKED = "packed", "Packed"
        LABEL_CREATED = "label_created", "Label created"
        IN_TRANSIT = "in_transit", "In transit"
        OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
        DELIVERED = "delivered", "Delivered"
        EXCEPTION = "exception", "Delivery exception"
        RETURNED = "returned", "Returned to sender"
        CANCELLED = "cancelled", "Cancelled"

    class ExceptionReason(models.TextChoices):
        NONE = "", "—"
        FAILED_ATTEMPT = "failed_attempt", "Failed delivery attempt"
        DAMAGED = "damaged", "Damaged"
        LOST = "lost", "Lost"
        OTHER = "other", "Other"

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "To the customer"
        RETURN = "return", "Back from the customer"

    # Not yet with the carrier: lines still count against the order's reserved stock, cancelling is possible.
    OPEN = [Status.PENDING, Status.PICKED, Status.PACKED, Status.LABEL_CREATED]
    # With the carrier: stock has left the ledger.
    MOVING = [Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.EXCEPTION]
    FINAL = [Status.DELIVERED, Status.RETURNED, Status.CANCELLED]

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.OUTBOUND,
        help_text="A return parcel carries items from the customer back to the warehouse (a return label).",
    )
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="shipments",
                                  help_text="Where it leaves from, or for a return parcel where it goes back to.")
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="shipments")
    tracking_number = models.CharField(
        max_length=64, blank=True, validators=[RegexValidator(r"^[A-Za-z0-9-]*$", "Letters, digits and dashes.")],
    )
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)
    exception_reason = models.CharField(max_length=20, choices=ExceptionReason.choices, blank=True)
    expected_delivery = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    label_created_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField("handed to carrier", null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_scan_at = models.DateTimeField("last carrier scan", null=True, blank=True)
    status_changed_at = models.DateTimeField(
        null=True, blank=True, help_text="Time (carrier time for carrier events) of the event that set the status.",
    )
    wave = models.ForeignKey("PickWave", null=True, blank=True, on_delete=models.SET_NULL, related_name="shipments",
                             help_text="The batch pick list it was picked in.")
    weight_grams = models.PositiveIntegerField("weight (g)", null=True, blank=True,
                                               validators=[MaxValueValidator(70_000)])
    parcel_size = models.CharField(max_length=10, choices=ParcelSize.choices, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("transition_shipment", "Can move shipments through their lifecycle")]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="shipment_created_desc"),
            models.Index(fields=["status", "-created_at"], name="shipment_status_created"),
            models.Index(fields=["order", "status"], name="shipment_order_status"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tracking_number"], condition=~Q(tracking_number=""),
                                    name="shipment_unique_tracking_number"),
            models.CheckConstraint(
                condition=Q(tracking_number="") | Q(carrier__isnull=False), name="shipment_tracking_needs_carrier",
            ),
        ]

    def __str__(self) -> str:
        return f"{'Return parcel' if self.is_return else 'Shipment'} {self.pk} · {self.order_id}"

    @property
    def is_return(self) -> bool:
        return self.direction == self.Direction.RETURN

    @property
    def reference_label(self) -> str:
        return f"{'return parcel' if self.is_return else 'shipment'} {self.pk}"

    @property
    def tracking_url(self) -> str:
        return self.carrier.tracking_url(self.tracking_number) if self.carrier_id else ""

    # --- lifecycle: in-memory only; shipping.services saves under row locks and records the event --------------
    @transition(field=status, source=Status.PENDING, target=Status.PICKED,
                permission="shipping.transition_shipment", custom={"label": "Mark picked"})
    def pick(self, **kwargs):
        pass

    @transition(field=status, source=Status.PICKED, target=Status.PACKED,
                permission="shipping.transition_shipment", custom={"label": "Mark packed"})
    def pack(self, **kwargs):
        pass

    @transition(field=status, source=Status.PACKED, target=Status.LABEL_CREATED,
                permission="shipping.transition_shipment", custom={
                    "label": "Create label",
                    "help_text": "Choose the carrier: the label gets its tracking number and the customer can follow "
                                 "the parcel."})
    def create_label(self, **kwargs):
        pass

    @transition(field=status, source=Status.LABEL_CREATED, target=Status.IN_TRANSIT,
                permission="shipping.transition_shipment", custom={
                    "label": "Picked up by carrier",
                    "help_text": "The carrier has the parcel: its stock leaves the warehouse."})
    def hand_over(self, **kwargs):
        pass

    @transition(field=status, source=[Status.IN_TRANSIT, Status.EXCEPTION], target=Status.OUT_FOR_DELIVERY,
                permission="shipping.transition_shipment", custom={"label": "Out for delivery"})
    def send_out(self, **kwargs):
        pass

    @transition(field=status, source=[Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.EXCEPTION],
                target=Status.DELIVERED, permission="shipping.transition_shipment",
                custom={"label": "Mark delivered"})
    def deliver(self, **kwargs):
        pass

    @transition(field=status, source=[Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY], target=Status.EXCEPTION,
                permission="shipping.transition_shipment", custom={
                    "label": "Report exception",
                    "help_text": "Something held the parcel up (damage, a wrong address, a lost scan); the customer "
                                 "is told it is delayed."})
    def report_exception(self, **kwargs):
        pass

    @transition(field=status, source=Status.EXCEPTION, target=Status.IN_TRANSIT,
                permission="shipping.transition_shipment", custom={"label": "Back in transit"})
    def resume(self, **kwargs):
        pass

    @transition(field=status, source=[Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.EXCEPTION],
                target=Status.RETURNED, permission="shipping.transition_shipment",
                custom={"label": "Returned to sender"})
    def return_to_sender(self, **kwargs):
        pass

    @transition(field=status, source=OPEN, target=Status.CANCELLED, permission="shipping.transition_shipment",
                custom={"label": "Cancel shipment"})
    def cancel(self, **kwargs):
        pass

    for _method in (pick, pack, create_label, hand_over, send_out, deliver, report_exception, resume,
                    return_to_sender, cancel):
        _method.alters_data = True
    del _method


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["shipment", "id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order_line"], name="shipmentline_unique_line"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipmentline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × line {self.order_line_id}"


class ShipmentUnit(models.Model):
    """A serial-numbered unit packed in a shipment line: which phone went to which customer in which parcel."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="units")
    line = models.ForeignKey(ShipmentLine, on_delete=models.CASCADE, related_name="units", db_index=False)
    unit = models.ForeignKey("inventory.Unit", on_delete=models.PROTECT, related_name="shipment_units")

    class Meta:
        ordering = ["line", "id"]
        constraints = [models.UniqueConstraint(fields=["line", "unit"], name="shipmentunit_unique_unit_per_line")]

    def __str__(self) -> str:
        return f"{self.unit_id} in shipment {self.shipment_id}"


class ShipmentEvent(models.Model):
    """One entry on a shipment's timeline: a status change by staff, or a scan reported by the carrier."""

    class Source(models.TextChoices):
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"
        CARRIER = "carrier", "Carrier"

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True, help_text="Empty when the status did not change.")
    reported_status = models.CharField(
        max_length=20, blank=True, help_text="Our status the carrier's code maps to (carrier events).",
    )
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    carrier_event_id = models.CharField(max_length=100, blank=True)
    carrier_status_code = models.CharField(max_length=40, blank=True)
    location = models.CharField("city", max_length=120, blank=True)
    description = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField(help_text="When it happened (carrier time for carrier events).")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["shipment", "occurred_at"], name="shipmentevent_shipment_time")]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "carrier_event_id"], condition=~Q(carrier_event_id=""),
                                    name="shipmentevent_unique_carrier_event"),
        ]

    def __str__(self) -> str:
        return self.description or f"{self.from_status or '—'} → {self.to_status}"

    @property
    def reported_label(self) -> str:
        """What the carrier's code means, in words ("In transit"), for a scan without a description."""
        status = self.reported_status or self.to_status
        return Shipment.Status(status).label if status in Shipment.Status.values else ""


class FulfilmentQueue(Shipment):
    """The admin's "Fulfilment queue" page (what each warehouse has to pick, pack, send and take back); no table
    of its own."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "fulfilment queue"
