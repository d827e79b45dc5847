"""The demo's past parcels for `seed_demo`: every historical order that left the warehouse did so in parcels made
through the shipping services (one per warehouse, so some orders are split), each with a carrier, a tracking number
that carrier's pattern accepts, the serial of every serial-tracked unit, and its scans at the times the order's
history planned. Nobody is emailed about the past (notifications are quiet while the history is imported)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Max

from inventory.models import StockMovement, UnitEvent

from .models import Carrier, Shipment, ShipmentEvent
from .services import shipment_create_for_lines, shipment_transition

S = Shipment.Status
DATED = ("created_at", "label_created_at", "shipped_at", "delivered_at", "status_changed_at", "updated_at")


class ParcelHistory:
    def __init__(self, command, *, warehouse_user):
        self.command, self.actor = command, warehouse_user
        self.carriers = list(Carrier.objects.filter(active=True).order_by("pk"))
        self.shipment_type = ContentType.objects.get_for_model(Shipment)

    def step(self, order, name: str, *, at: datetime, partial: bool = False) -> None:
        """One step of an order's history: parcels leave ("ship", "ship_part", "ship_rest"), arrive ("deliver")
        or come back undelivered ("return"); everything they write is dated `at`."""
        marks = {model: model.objects.aggregate(m=Max("pk"))["m"] or 0
                 for model in (ShipmentEvent, UnitEvent, StockMovement)}
        if name in ("ship", "ship_part", "ship_rest"):
            self._ship(order, partial=partial)
        else:
            moving = list(Shipment.objects.filter(order=order, direction=Shipment.Direction.OUTBOUND,
                                                  status__in=Shipment.MOVING).order_by("pk"))
            for parcel in moving:
                if name == "deliver":
                    shipment_transition(shipment=parcel.pk, name="send_out", actor=self.actor, reason="On the van")
                    shipment_transition(shipment=parcel.pk, name="deliver", actor=self.actor,
                                        reason="Handed to the recipient")
                else:
                    shipment_transition(shipment=parcel.pk, name="return_to_sender", actor=self.actor,
                                        reason="nobody was at the address after three attempts")
        self._date(order, at, marks)

    def today(self, *, products, warehouse, people, users, count: int) -> list[int]:
        """Today's orders sent through the shipping services: parcels with real tracking numbers at every stage
        (label created, in transit, out for delivery, delivered), so the portal, the tracking page and
        `simulate_carriers` have parcels to show and move. The demo customer gets one on its way and one
        delivered. These do send their emails. Returns the orders' ids."""
        from inventory.services import stock_receive
        from orders.models import Order
        from orders.services import order_place, order_set_payment_status, order_transition

        rng, command = self.command.rng, self.command
        phones = [p for p in products if p.serial_tracked] or products
        stages = ["create_label", "hand_over", "send_out", "deliver"]
        for product in products:  # a fresh delivery so today's orders never run short
            stock_receive(product=product, warehouse=warehouse, quantity=5, actor=self.actor,
                          reason="Delivery from supplier")
        placed = []
        for n in range(count):
            customer = users["customer"] if n < 2 else rng.choice(people)
            address, phone = command._address(customer)
            lines = [(rng.choice(phones), 1)] + ([(rng.choice(products), 1)] if rng.random() < 0.3 else [])
            lines = list({p.pk: (p, q) for p, q in lines}.values())
            order, _ = order_place(customer=customer, email=customer.email, phone=phone, shipping_address=address,
                                   lines=[{"sku": p.sku, "quantity": q} for p, q in lines], actor=customer)
            order_set_payment_status(order=order, payment_status=Order.PaymentStatus.PAID,
                                     reason="Card payment captured")  # a parcel leaves only once it is paid
            placed.append(order.pk)
            for name in ("confirm", "start_processing", "pack"):
                order_transition(order=order, name=name, actor=self.actor)
            last_stage = {0: "hand_over", 1: "deliver"}.get(n, stages[n % len(stages)])
            carrier = self.carriers[n % len(self.carriers)]
            for parcel in shipment_create_for_lines(order=order.number, items=command._picks(order, partial=False),
                                                    carrier=carrier, actor=self.actor):
                shipment_transition(shipment=parcel.pk, name="pick", actor=self.actor)
                shipment_transition(shipment=parcel.pk, name="pack", actor=self.actor, serials=self._serials(parcel))
                shipment_transition(shipment=parcel.pk, name="create_label", actor=self.actor, carrier=carrier,
                                    tracking_number=self.tracking_number(carrier))
                for name in stages[1: stages.index(last_stage) + 1]:
                    shipment_transition(shipment=parcel.pk, name=name, actor=self.actor)
        return placed

    def tracking_number(self, carrier) -> str:
        """A number the carrier's pattern accepts (our own courier makes its own)."""
        digits = self.command._digits
        if carrier.code == "parcelnet":
            return f"PN{digits(10)}"
        if carrier.code == "swiftpost":
            return f"{digits(3)}-{digits(7)}-SP"
        return ""

    def _serials(self, parcel) -> dict[int, list[str]]:
        """New serial numbers for the parcel's serial-tracked lines (IMEIs for phones), as a packer scans them."""
        return {sl.order_line_id: self.command._serials(sl.order_line.product, sl.quantity)
                for sl in parcel.lines.select_related("order_line__product") if sl.order_line.product.serial_tracked}

    def _ship(self, order, *, partial: bool) -> None:
        picks = self.command._picks(order, partial=partial)
        carrier = self.command.rng.choice(self.carriers)
        for parcel in shipment_create_for_lines(order=order.number, items=picks, carrier=carrier, actor=self.actor):
            shipment_transition(shipment=parcel.pk, name="pick", actor=self.actor)
            shipment_transition(shipment=parcel.pk, name="pack", actor=self.actor, serials=self._serials(parcel))
            shipment_transition(shipment=parcel.pk, name="create_label", actor=self.actor, carrier=carrier,
                                tracking_number=self.tracking_number(carrier))
            shipment_transition(shipment=parcel.pk, name="hand_over", actor=self.actor)

    def _date(self, order, at: datetime, marks: dict) -> None:
        ShipmentEvent.objects.filter(pk__gt=marks[ShipmentEvent], shipment__order=order).update(occurred_at=at,
                                                                                                created_at=at)
        UnitEvent.objects.filter(pk__gt=marks[UnitEvent]).update(created_at=at)
        StockMovement.objects.filter(pk__gt=marks[StockMovement], reference_type=self.shipment_type).update(
            created_at=at)
        parcels = Shipment.objects.filter(order=order)
        for field in DATED:
            parcels.filter(**{f"{field}__gt": at}).update(**{field: at})
        for parcel in parcels.filter(expected_delivery__isnull=False, status__in=Shipment.MOVING).select_related(
                "carrier"):
            Shipment.objects.filter(pk=parcel.pk).update(
                expected_delivery=(at + timedelta(days=parcel.carrier.transit_days)).date())
        for parcel in parcels.filter(status=S.DELIVERED, delivered_at__isnull=False):
            Shipment.objects.filter(pk=parcel.pk).update(expected_delivery=parcel.delivered_at.date())
