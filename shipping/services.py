"""Every write to a shipment: creation, lifecycle transitions, carrier tracking events.

Locks are taken in the orders' order: the order row first, then shipment rows by primary key. Stock leaves the
ledger when the carrier takes the parcel (`hand_over`, label created → in transit): that step calls
orders.services.order_ship_items in the same transaction, so the shipment movement, the allocation, the order
status and the shipment status change together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from config.db import atomic_service
from config.errors import DomainError
from config.fsm import transitions_of
from inventory.errors import InvalidSerial, SerialUnavailable
from inventory.models import Warehouse
from inventory.services import units_pack, units_return_to_stock, units_ship, units_unpack
from orders.models import Allocation, Order, OrderLine
from orders.services import (
    SHIPPABLE,
    order_event_record,
    order_has_backorders,
    order_reship,
    order_return_shipped_items,
    order_ship_items,
    order_transition,
)

from . import carriers as carrier_tables
from .errors import (
    CarrierNotFound,
    InvalidShipment,
    OrderNotReadyToShip,
    ShipmentNotFound,
    ShipmentTransitionForbidden,
    ShipmentTransitionNotAllowed,
    ShipmentTransitionNotFound,
    TrackingNumberNotFound,
)
from .models import Carrier, ParcelSize, PickWave, Shipment, ShipmentEvent, ShipmentLine, ShipmentUnit
from .selectors import shippable_quantities
from .signals import shipment_status_changed

S = Shipment.Status
KIND_SHIPMENT_CREATED = "shipment_created"  # order timeline kinds, registered in ShippingConfig.ready()
KIND_PARCEL_UPDATE = "parcel_update"
WAREHOUSE_STEPS = {S.PENDING, S.PICKED, S.PACKED, S.CANCELLED}  # not shown on the customer's order timeline

# The notification each status change sends the customer (through the outbox).
NOTIFICATIONS = {
    S.IN_TRANSIT: "shipment.shipped",
    S.OUT_FOR_DELIVERY: "shipment.out_for_delivery",
    S.DELIVERED: "shipment.delivered",
    S.EXCEPTION: "shipment.exception",
}

# How a carrier event moves a shipment from its status to the one the carrier reports: the transitions to fire,
# in order. A pair that is not here (for example out for delivery → in transit) would move the parcel backwards
# and changes nothing.
CARRIER_PATHS: dict[tuple[str, str], list[str]] = {
    (S.LABEL_CREATED, S.IN_TRANSIT): ["hand_over"],
    (S.LABEL_CREATED, S.OUT_FOR_DELIVERY): ["hand_over", "send_out"],
    (S.LABEL_CREATED, S.DELIVERED): ["hand_over", "deliver"],
    (S.LABEL_CREATED, S.EXCEPTION): ["hand_over", "report_exception"],
    (S.LABEL_CREATED, S.RETURNED): ["hand_over", "return_to_sender"],
    (S.IN_TRANSIT, S.OUT_FOR_DELIVERY): ["send_out"],
    (S.IN_TRANSIT, S.DELIVERED): ["deliver"],
    (S.IN_TRANSIT, S.EXCEPTION): ["report_exception"],
    (S.IN_TRANSIT, S.RETURNED): ["return_to_sender"],
    (S.OUT_FOR_DELIVERY, S.DELIVERED): ["deliver"],
    (S.OUT_FOR_DELIVERY, S.EXCEPTION): ["report_exception"],
    (S.OUT_FOR_DELIVERY, S.RETURNED): ["return_to_sender"],
    (S.EXCEPTION, S.IN_TRANSIT): ["resume"],
    (S.EXCEPTION, S.OUT_FOR_DELIVERY): ["send_out"],
    (S.EXCEPTION, S.DELIVERED): ["deliver"],
    (S.EXCEPTION, S.RETURNED): ["return_to_sender"],
}


def transition_names() -> list[str]:
    return [t.name for t in transitions_of(Shipment)]


def _person(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def open_shipments_refusal(order: Order) -> str:
    """Why an order with open shipments must not "ship everything" at once (or "" when it may)."""
    open_ids = list(Shipment.objects.filter(order=order, status__in=Shipment.OPEN,
                                            direction=Shipment.Direction.OUTBOUND).values_list("pk", flat=True))
    if not open_ids:
        return ""
    listed = ", ".join(f"#{pk}" for pk in open_ids)
    return (f"Order {order.number} has open shipments ({listed}): hand them over to the carrier, "
            "or cancel them first.")


def parcels_made_refusal(order: Order) -> str:
    """Why an order's items may not change any more: some are in a parcel (or have left)."""
    made = list(Shipment.objects.filter(order=order, direction=Shipment.Direction.OUTBOUND)
                .exclude(status=S.CANCELLED).values_list("pk", flat=True)[:5])
    if not made:
        return ""
    return (f"Order {order.number} has parcels already ({', '.join(f'#{pk}' for pk in made)}): cancel them to "
            "change its items; its address can still change until the label.")


def labelled_parcels_refusal(order: Order) -> str:
    """Why an order's address may not change any more: a parcel has its label (or has left) with the old one."""
    labelled = Shipment.objects.filter(order=order, direction=Shipment.Direction.OUTBOUND).exclude(
        status__in=[S.PENDING, S.PICKED, S.PACKED, S.CANCELLED]).exists()
    return (f"A parcel of order {order.number} already carries its label with the current address: contact us "
            "and we will do what we can.") if labelled else ""


def serial_tracked_refusal(order: Order) -> str:
    """Why an order with serial-tracked units still to send must not "ship everything" at once: each unit's serial
    number is scanned into a shipment when it is packed (or "" when it may)."""
    skus = sorted(set(Allocation.objects.filter(order=order, quantity__gt=0, product__serial_tracked=True)
                      .values_list("product__sku", flat=True)))
    if not skus:
        return ""
    return (f"Order {order.number} has serial-tracked items ({', '.join(skus)}): send them in a shipment, so the "
            "serial number of each unit is scanned when it is packed.")


def _lock_order(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def _lock_shipment(shipment: Shipment | int) -> tuple[Order, Shipment]:
    """Lock the shipment's order, then the shipment (the same order as every other path)."""
    pk = shipment.pk if isinstance(shipment, Shipment) else shipment
    order_id = Shipment.objects.filter(pk=pk).values_list("order_id", flat=True).first()
    if order_id is None:
        raise ShipmentNotFound(f"No shipment {pk}.", id=pk)
    order = _lock_order(order_id)
    locked = Shipment.objects.select_for_update(of=("self",)).select_related("carrier", "warehouse").get(pk=pk)
    return order, locked


def _carrier(carrier: Carrier | str | None) -> Carrier | None:
    if carrier is None or carrier == "":
        return None
    if isinstance(carrier, Carrier):
        return carrier
    found = Carrier.objects.filter(code=carrier, active=True).first()
    if found is None:
        raise InvalidShipment(f"Unknown carrier {carrier}.", fields={"carrier": [f"No active carrier {carrier}."]})
    return found


# --- creation ------------------------------------------------------------------------------------------------

@atomic_service
def shipment_create(*, order: Order | str, warehouse, items: Sequence[tuple[int, int]], carrier=None,
                    actor=None) -> Shipment:
    """A shipment for some of an order's lines from one warehouse: items are (order line id, quantity).

    The quantities must still be reserved at that warehouse and not be in another open shipment; the order row
    lock makes two concurrent requests for the same units create one shipment.
    """
    number = order if isinstance(order, str) else order.number
    order_id = Order.objects.filter(number=number).values_list("pk", flat=True).first()
    if order_id is None:
        raise InvalidShipment(f"No order {number}.", fields={"order": [f"No order {number}."]})
    locked = _lock_order(order_id)
    if locked.status not in SHIPPABLE:
        raise OrderNotReadyToShip(
            f"Order {locked.number} is {locked.get_status_display().lower()}; shipments are made once it is being "
            "processed (confirm it and start processing).", status=locked.status,
        )
    warehouse_id = getattr(warehouse, "pk", warehouse)
    carrier_obj = _carrier(carrier)
    if not items:
        raise InvalidShipment("A shipment needs at least one line.", fields={"lines": ["Choose at least one line."]})
    lines = {line.pk: line for line in OrderLine.objects.filter(order=locked)}
    shippable = shippable_quantities(order_id=locked.pk)
    errors, seen = {}, set()
    for i, (line_id, qty) in enumerate(items):
        if line_id not in lines:
            errors[f"lines[{i}].line"] = [f"Order {locked.number} has no line {line_id}."]
        elif line_id in seen:
            errors[f"lines[{i}].line"] = ["This line appears twice; put the whole quantity on one line."]
        elif not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            errors[f"lines[{i}].quantity"] = ["Must be a whole number above zero."]
        elif qty > shippable.get((line_id, warehouse_id), 0):
            errors[f"lines[{i}].quantity"] = [
                f"Only {shippable.get((line_id, warehouse_id), 0)} unit(s) of {lines[line_id].sku} are reserved at "
                "this warehouse and not already in a shipment."
            ]
        seen.add(line_id)
    if errors:
        raise InvalidShipment("Some lines cannot go into this shipment.", fields=errors)
    shipment = Shipment.objects.create(order=locked, warehouse_id=warehouse_id, carrier=carrier_obj,
                                       created_by=_person(actor), status_changed_at=timezone.now())
    ShipmentLine.objects.bulk_create([
        ShipmentLine(shipment=shipment, order_line_id=line_id, quantity=qty) for line_id, qty in items
    ])
    ShipmentEvent.objects.create(shipment=shipment, source=ShipmentEvent.Source.STAFF, to_status=shipment.status,
                                 description="Shipment created", occurred_at=shipment.created_at,
                                 actor=_person(actor))
    summary = ", ".join(f"{qty} × {lines[line_id].sku}" for line_id, qty in items)
    order_event_record(order=locked, kind=KIND_SHIPMENT_CREATED, actor=_person(actor), internal=True,
                       text=f"Shipment {shipment.pk} created: {summary}.",
                       data={"shipment_id": shipment.pk, "warehouse": shipment.warehouse.code,
                             "lines": [{"sku": lines[line_id].sku, "quantity": qty} for line_id, qty in items]})
    return shipment


@atomic_service
def shipment_create_for_lines(*, order: Order | str, items: Sequence[tuple[int, int, int]], carrier=None,
                              actor=None) -> list[Shipment]:
    """Shipments for chosen lines, one per warehouse: items are (order line id, warehouse id, quantity).

    All or nothing: when one warehouse's lines cannot ship, no shipment is created.
    """
    per_warehouse: dict[int, list[tuple[int, int]]] = {}
    for line_id, warehouse_id, qty in items:
        per_warehouse.setdefault(warehouse_id, []).append((line_id, qty))
    if not per_warehouse:
        raise InvalidShipment("Choose at least one line to ship.", fields={"lines": ["Nothing chosen."]})
    return [shipment_create(order=order, warehouse=warehouse_id, items=lines, carrier=carrier, actor=actor)
            for warehouse_id, lines in sorted(per_warehouse.items())]


@atomic_service
def shipment_create_all(*, order: Order | str, carrier=None, actor=None) -> list[Shipment]:
    """One shipment per warehouse for everything the order still has to send."""
    number = order if isinstance(order, str) else order.number
    order_id = Order.objects.filter(number=number).values_list("pk", flat=True).first()
    if order_id is None:
        raise InvalidShipment(f"No order {number}.", fields={"order": [f"No order {number}."]})
    _lock_order(order_id)
    items = [(line_id, warehouse_id, qty)
             for (line_id, warehouse_id), qty in sorted(shippable_quantities(order_id=order_id).items())]
    if not items:
        raise InvalidShipment(f"Order {number} has nothing left to put in a shipment.",
                              fields={"lines": ["Nothing left to ship."]})
    return shipment_create_for_lines(order=number, items=items, carrier=carrier, actor=actor)


@atomic_service
def shipment_create_return(*, order: Order | str, warehouse, items: Sequence[tuple[int, int]], carrier=None,
                           tracking_number: str = "", actor=None, reason: str = "") -> Shipment:
    """A return label: a parcel the customer sends back to `warehouse` with delivered items of the order
    (items are (order line id, quantity)). It starts with its label created and a tracking number; carrier events
    move it like any parcel, and nothing in the ledger moves until the returns app receives the items."""
    number = order if isinstance(order, str) else order.number
    order_id = Order.objects.filter(number=number).values_list("pk", flat=True).first()
    if order_id is None:
        raise InvalidShipment(f"No order {number}.", fields={"order": [f"No order {number}."]})
    locked = _lock_order(order_id)
    lines = {line.pk: line for line in OrderLine.objects.filter(order=locked)}
    errors = {}
    for i, (line_id, qty) in enumerate(items):
        if line_id not in lines:
            errors[f"lines[{i}].line"] = [f"Order {locked.number} has no line {line_id}."]
        elif not isinstance(qty, int) or isinstance(qty, bool) or not 0 < qty <= lines[line_id].shipped_quantity:
            errors[f"lines[{i}].quantity"] = [f"Between 1 and the {lines[line_id].shipped_quantity} unit(s) shipped."]
    if errors or not items:
        raise InvalidShipment("The return parcel's lines are invalid.", fields=errors or {"lines": ["Empty."]})
    warehouse_id = getattr(warehouse, "pk", warehouse)
    now = timezone.now()
    shipment = Shipment(order=locked, warehouse_id=warehouse_id, direction=Shipment.Direction.RETURN,
                        status=S.LABEL_CREATED, created_by=_person(actor), label_created_at=now,
                        status_changed_at=now)
    _assign_tracking_number(shipment, carrier=carrier, tracking_number=tracking_number)
    shipment.expected_delivery = timezone.localdate() + timedelta(days=shipment.carrier.transit_days + 3)
    shipment.save(force_insert=True)
    ShipmentLine.objects.bulk_create([
        ShipmentLine(shipment=shipment, order_line_id=line_id, quantity=qty) for line_id, qty in items
    ])
    ShipmentEvent.objects.create(shipment=shipment, source=ShipmentEvent.Source.STAFF, to_status=shipment.status,
                                 description=reason or "Return label created", occurred_at=now,
                                 actor=_person(actor))
    return shipment


# --- lifecycle -----------------------------------------------------------------------------------------------

def _assign_tracking_number(shipment: Shipment, *, carrier, tracking_number: str) -> None:
    carrier_obj = _carrier(carrier) or shipment.carrier
    if carrier_obj is None:
        raise InvalidShipment("Choose a carrier before creating the label.", fields={"carrier": ["Required."]})
    shipment.carrier = carrier_obj
    if carrier_obj.generates_tracking_numbers and not tracking_number:
        number = carrier_tables.new_tracking_number(carrier_obj)
    else:
        number = (tracking_number or "").strip().upper()
        if not number:
            raise InvalidShipment(f"Enter the tracking number {carrier_obj.name} gave you.",
                                  fields={"tracking_number": ["Required for this carrier."]})
        if carrier_obj.tracking_number_pattern and not re.fullmatch(carrier_obj.tracking_number_pattern, number):
            raise InvalidShipment(f"{number} is not a {carrier_obj.name} tracking number.",
                                  fields={"tracking_number": [f"Must match {carrier_obj.tracking_number_pattern}."]})
        if not re.fullmatch(r"[A-Z0-9-]{4,64}", number):
            raise InvalidShipment("Tracking numbers are 4 to 64 letters, digits and dashes.",
                                  fields={"tracking_number": ["Letters, digits and dashes only."]})
    if Shipment.objects.filter(tracking_number=number).exclude(pk=shipment.pk).exists():
        raise InvalidShipment(f"Tracking number {number} is already on another shipment.",
                              fields={"tracking_number": ["Already used."]})
    shipment.tracking_number = number


def _notify(shipment: Shipment, order: Order, status: str, *, at: datetime) -> None:
    """Tell the customer (through the notifications outbox, in this transaction) and any signal receiver."""
    name = NOTIFICATIONS.get(status)
    if name is None:
        return
    reason = shipment.get_exception_reason_display() if status == S.EXCEPTION else ""
    payload = {
        "order_number": order.number,
        "shipment_id": shipment.pk,
        "carrier_name": shipment.carrier.name if shipment.carrier_id else "",
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url or _public_tracking_url(shipment),
        "estimated_delivery": shipment.expected_delivery.isoformat() if shipment.expected_delivery else None,
        "lines": [{"sku": sl.order_line.sku, "name": sl.order_line.name, "quantity": sl.quantity}
                  for sl in shipment.lines.select_related("order_line").order_by("pk")],
        "customer_name": order.ship_name,
        "exception_reason": shipment.exception_reason if status == S.EXCEPTION else "",
        "exception_display": reason.lower(),
    }
    shipment_status_changed.send(sender=Shipment, shipment=shipment, event=name, payload=payload)
    if not apps.is_installed("notifications"):
        return
    from notifications.services import notification_emit

    key = f"shipment:{shipment.pk}:{status}:{at.isoformat()}"
    notification_emit(event=name, subject=order, payload=payload, idempotency_key=key)
    if status == S.EXCEPTION:  # staff hear about it too, with a link to act on it
        alert = {**payload, "title": f"Delivery exception on {order.number}",
                 "message": f"{payload['carrier_name']} parcel {shipment.tracking_number}: {reason.lower()}.",
                 "link": reverse("admin:shipping_shipment_change", args=[shipment.pk])}
        notification_emit(event="shipment.exception_alert", subject=order, payload=alert,
                          idempotency_key=f"{key}:staff")


def _public_tracking_url(shipment: Shipment) -> str:
    """Our own tracking page, for carriers without one (the local courier)."""
    if not shipment.tracking_number:
        return ""
    site = settings.WAYBILL_SITE_URL.rstrip("/")
    return f"{site}{reverse('shipping:track', args=[shipment.tracking_number])}"


def _pack_units(order: Order, shipment: Shipment, serials: dict[int, list[str]] | None, *, actor) -> None:
    """Record the scanned serial number of every unit of the shipment's serial-tracked lines (all or nothing)."""
    serials = serials or {}
    lines = list(shipment.lines.select_related("order_line__product").order_by("pk"))
    tracked = {sl.order_line_id: sl for sl in lines if sl.order_line.product.serial_tracked}
    errors = {}
    for line_id in serials:
        if line_id not in tracked:
            errors[f"serials[{line_id}]"] = [f"Shipment {shipment.pk} has no serial-tracked line {line_id}."]
    for line_id, sl in tracked.items():
        given = [s for s in serials.get(line_id, []) if str(s).strip()]
        if len(given) != sl.quantity:
            errors[f"serials[{line_id}]"] = [f"Scan the serial number of each of the {sl.quantity} unit(s) of "
                                             f"{sl.order_line.sku}; {len(given)} given."]
        serials[line_id] = given
    if errors:
        raise InvalidShipment("Scan the serial number of every unit before packing.", fields=errors)
    rows = []
    for line_id, sl in tracked.items():
        try:
            units = units_pack(product=sl.order_line.product, warehouse=shipment.warehouse, serials=serials[line_id],
                               order_number=order.number, actor=actor, reference=shipment)
        except (InvalidSerial, SerialUnavailable) as err:
            err.extra["line"] = line_id
            raise
        rows += [ShipmentUnit(shipment=shipment, line=sl, unit=unit) for unit in units]
    ShipmentUnit.objects.bulk_create(rows)


def _unit_ids(shipment: Shipment) -> list[int]:
    return list(ShipmentUnit.objects.filter(shipment=shipment).order_by("unit_id").values_list("unit_id", flat=True))


def _step(order: Order, shipment: Shipment, name: str, *, actor, reason: str, at: datetime,
          exception_reason: str = "", serials: dict[int, list[str]] | None = None) -> None:
    """Fire one transition on a locked shipment with every effect it has (stock, order, notes, notifications)."""
    method = getattr(shipment, name)
    if not can_proceed(method):
        raise ShipmentTransitionNotAllowed(
            f"Shipment {shipment.pk} is {shipment.get_status_display().lower()} and cannot "
            f"{name.replace('_', ' ')}.", transition=name, status=shipment.status,
            allowed=[t.name for t in shipment.get_available_status_transitions()],
        )
    before = shipment.status
    today = timezone.localdate()
    packed_now = False
    if shipment.is_return:
        _step_return_parcel(order, shipment, name, actor=actor, reason=reason, at=at, before=before)
        return
    if name == "hand_over":
        items = [(sl.order_line_id, shipment.warehouse_id, sl.quantity) for sl in shipment.lines.order_by("pk")]
        order_ship_items(order=order.number, items=items, actor=_person(actor),
                         reason=f"{shipment.reference_label} handed to {shipment.carrier.name}")
        if unit_ids := _unit_ids(shipment):
            units_ship(unit_ids=unit_ids, order_number=order.number, actor=actor, reference=shipment,
                       replacement=order.replaces_id is not None)
        shipment.shipped_at = at
        shipment.expected_delivery = today + timedelta(days=shipment.carrier.transit_days)
    elif name == "create_label":
        shipment.label_created_at = at
        shipment.expected_delivery = today + timedelta(days=shipment.carrier.transit_days + 1)
    elif name == "deliver":
        shipment.delivered_at = at
    elif name == "pack":
        _pack_units(order, shipment, serials, actor=actor)
        packed_now = True
    elif name == "cancel" and (unit_ids := _unit_ids(shipment)):
        units_unpack(unit_ids=unit_ids, actor=actor, reference=shipment)
    elif name == "return_to_sender":
        if unit_ids := _unit_ids(shipment):
            units_return_to_stock(unit_ids=unit_ids, warehouse=shipment.warehouse, order_number=order.number,
                                  actor=actor, reference=shipment, text="Parcel returned to sender")
        items = [(sl.order_line_id, shipment.warehouse_id, sl.quantity) for sl in shipment.lines.order_by("pk")]
        why = f" ({reason.rstrip('.')})" if reason else ""
        order_return_shipped_items(
            order=order.number, items=items, actor=_person(actor), reference=shipment,
            reason=f"Your parcel{_parcel_words(shipment)} came back to us undelivered{why}. The items are safe in "
                   "our warehouse: we will send them to you again or refund you, and tell you which.")
    elif name == "report_exception":
        shipment.exception_reason = exception_reason or Shipment.ExceptionReason.OTHER
    method(reason=reason)
    shipment.status_changed_at = at
    shipment.save()
    order.refresh_from_db()
    text = f"Shipment {shipment.pk}: {Shipment.Status(before).label.lower()} → {shipment.get_status_display().lower()}"
    if shipment.tracking_number:
        text += f" ({shipment.carrier.name} {shipment.tracking_number})"
    # Warehouse steps stay internal; from the label on, the customer sees the parcel on the order's timeline.
    order_event_record(order=order, kind=KIND_PARCEL_UPDATE, actor=_person(actor),
                       internal=shipment.status in WAREHOUSE_STEPS, text=text + (f". {reason}" if reason else "."),
                       data={"shipment_id": shipment.pk, "from_status": before, "to_status": shipment.status,
                             "carrier": shipment.carrier.code if shipment.carrier_id else "",
                             "tracking_number": shipment.tracking_number})
    _notify(shipment, order, shipment.status, at=at)
    if packed_now:
        _pack_order_if_complete(order, actor=actor)
    if shipment.status == S.DELIVERED:
        _deliver_order_if_complete(order, actor=actor)


def _pack_order_if_complete(order: Order, *, actor) -> None:
    """An order being processed is packed once every reserved unit is in a parcel and every open parcel is
    packed: the warehouse packs parcels, never the order a second time."""
    if order.status != Order.Status.PROCESSING or shippable_quantities(order_id=order.pk) \
            or order_has_backorders(order):
        return  # something still needs a parcel, or is still to arrive
    waiting = Shipment.objects.filter(order=order, direction=Shipment.Direction.OUTBOUND,
                                      status__in=[S.PENDING, S.PICKED]).exists()
    if not waiting:
        order_transition(order=order.number, name="pack", actor=_person(actor), check_permission=False,
                         reason="Every parcel is packed")
        order.refresh_from_db()


def _step_return_parcel(order: Order, shipment: Shipment, name: str, *, actor, reason: str, at: datetime,
                        before: str) -> None:
    """A return parcel moves like any other, without touching the ledger or the order's status: the returns app
    hears of it (shipment_status_changed, event "return_parcel.<status>") and receives the items itself."""
    if name == "hand_over":
        shipment.shipped_at = at
    elif name == "deliver":
        shipment.delivered_at = at
    elif name == "report_exception":
        shipment.exception_reason = Shipment.ExceptionReason.OTHER
    getattr(shipment, name)(reason=reason)
    shipment.status_changed_at = at
    shipment.save()
    words = {S.IN_TRANSIT: "is on its way back to us", S.OUT_FOR_DELIVERY: "is being delivered to our warehouse",
             S.DELIVERED: "arrived at our warehouse", S.EXCEPTION: "is delayed", S.CANCELLED: "label was cancelled",
             S.RETURNED: "went back to the sender"}
    text = f"Your return parcel ({shipment.carrier.name} {shipment.tracking_number}) " \
           f"{words.get(shipment.status, shipment.get_status_display().lower())}."
    order_event_record(order=order, kind=KIND_PARCEL_UPDATE, actor=_person(actor), text=text,
                       data={"shipment_id": shipment.pk, "direction": shipment.direction, "from_status": before,
                             "to_status": shipment.status, "carrier": shipment.carrier.code,
                             "tracking_number": shipment.tracking_number})
    shipment_status_changed.send(sender=Shipment, shipment=shipment, event=f"return_parcel.{shipment.status}",
                                 payload={"order_number": order.number, "shipment_id": shipment.pk,
                                          "tracking_number": shipment.tracking_number, "reason": reason})


def _parcel_words(shipment: Shipment) -> str:
    if shipment.carrier_id and shipment.tracking_number:
        return f" ({shipment.carrier.name} {shipment.tracking_number})"
    return ""


def _deliver_order_if_complete(order: Order, *, actor) -> None:
    if order.status != Order.Status.SHIPPED:
        return  # partially shipped: more parcels are still to leave
    # a parcel that came back was sent again (or refunded): it no longer keeps the order from being delivered
    undelivered = Shipment.objects.filter(order=order, direction=Shipment.Direction.OUTBOUND).exclude(
        status__in=[S.DELIVERED, S.CANCELLED, S.RETURNED])
    if not undelivered.exists():
        order_transition(order=order.number, name="deliver", actor=_person(actor), check_permission=False,
                         reason="Every shipment was delivered.")


@atomic_service
def shipment_transition(*, shipment: Shipment | int, name: str, actor=None, reason: str = "",
                        tracking_number: str = "", carrier=None, exception_reason: str = "",
                        serials: dict[int, list[str]] | None = None, check_permission: bool = True) -> Shipment:
    """Move a shipment along its lifecycle under row locks and record it on both timelines.

    create_label assigns the tracking number (generated for our own courier, entered and pattern-checked for the
    others); hand_over ships the lines from the order's allocation; deliver delivers the order when it was the
    last parcel. pack takes `serials`, order line id → the scanned serial numbers of its units, for every
    serial-tracked line (refused, naming the line and the serial, if one is missing, malformed or not available).
    """
    if name not in transition_names():
        raise ShipmentTransitionNotFound(f"There is no transition called {name!r}.", transition=name,
                                         allowed=transition_names())
    order, locked = _lock_shipment(shipment)
    method = getattr(locked, name)
    if not can_proceed(method):
        raise ShipmentTransitionNotAllowed(
            f"Shipment {locked.pk} is {locked.get_status_display().lower()} and cannot {name.replace('_', ' ')}.",
            transition=name, status=locked.status,
            allowed=[t.name for t in locked.get_available_status_transitions()],
        )
    if check_permission and actor is not None and not has_transition_perm(method, actor):
        raise ShipmentTransitionForbidden(f"You may not {name.replace('_', ' ')} shipments.", transition=name)
    if exception_reason and exception_reason not in Shipment.ExceptionReason.values:
        raise InvalidShipment("Unknown exception reason.",
                              fields={"exception_reason": [f"One of {Shipment.ExceptionReason.values[1:]}."]})
    if name == "create_label":
        _assign_tracking_number(locked, carrier=carrier, tracking_number=tracking_number)
    before = locked.status
    now = timezone.now()
    _step(order, locked, name, actor=actor, reason=reason, at=now, exception_reason=exception_reason,
          serials=serials)
    ShipmentEvent.objects.create(shipment=locked, source=ShipmentEvent.Source.STAFF, from_status=before,
                                 to_status=locked.status, description=reason or locked.get_status_display(),
                                 occurred_at=now, actor=_person(actor))
    return locked


@atomic_service
def shipment_reship(*, order: Order | str, carrier=None, actor=None, reason: str = "") -> list[Shipment]:
    """Send a returned order again: its returned units are reserved once more and go into new shipments (one per
    warehouse), with the carrier of the parcel that came back unless another is chosen."""
    number = order if isinstance(order, str) else order.number
    order_id = Order.objects.filter(number=number).values_list("pk", flat=True).first()
    if order_id is None:
        raise InvalidShipment(f"No order {number}.", fields={"order": [f"No order {number}."]})
    _lock_order(order_id)
    returned = (Shipment.objects.filter(order_id=order_id, status=S.RETURNED, direction=Shipment.Direction.OUTBOUND)
                .select_related("carrier").first())
    chosen = _carrier(carrier) or (returned.carrier if returned else None)
    order_reship(order=number, actor=actor, reason=reason or "We are sending your order again.")
    return shipment_create_all(order=number, carrier=chosen, actor=actor)


def shipment_cancel(*, shipment: Shipment | int, actor=None, reason: str = "") -> Shipment:
    """Cancel a shipment that has not left: nothing moves in the ledger, the units stay reserved for the order."""
    return shipment_transition(shipment=shipment, name="cancel", actor=actor, reason=reason)


# --- carrier events ------------------------------------------------------------------------------------------

class CarrierEventResult(NamedTuple):
    """What one carrier event did: `changed` says whether the parcel's status moved, `detail` why (or why not)."""

    shipment: Shipment
    created: bool
    changed: bool = False
    detail: str = ""


def _status_set_by_carrier(shipment: Shipment) -> bool:
    """Whether the carrier's own event set the current status (then its clock is the one to compare with)."""
    source = (shipment.events.exclude(to_status="").order_by("-occurred_at", "-id")
              .values_list("source", flat=True).first())
    return source == ShipmentEvent.Source.CARRIER


def _in_order(shipment: Shipment, occurred_at: datetime) -> bool:
    """An event is in order unless it is older than the one that set the status. Against a status we set in our
    own clock (the label, a hand-over by staff), the carrier's clock may be behind by up to
    WAYBILL_CARRIER_CLOCK_SKEW_SECONDS: a pick-up scan stamped a little before the label is the carrier's clock,
    not an event from the past."""
    if shipment.status_changed_at is None or occurred_at >= shipment.status_changed_at:
        return True
    skew = timedelta(seconds=settings.WAYBILL_CARRIER_CLOCK_SKEW_SECONDS)
    return occurred_at >= shipment.status_changed_at - skew and not _status_set_by_carrier(shipment)


@atomic_service
def _record_carrier_event(*, carrier: Carrier, tracking_number: str, event_id: str, status_code: str,
                          occurred_at: datetime, location: str, description: str) -> CarrierEventResult:
    pk = (Shipment.objects.filter(carrier=carrier, tracking_number=tracking_number.strip().upper())
          .values_list("pk", flat=True).first())
    if pk is None:
        raise TrackingNumberNotFound(f"{carrier.name} has no parcel {tracking_number} with us.",
                                     tracking_number=tracking_number)
    order, locked = _lock_shipment(pk)
    if ShipmentEvent.objects.filter(carrier=carrier, carrier_event_id=event_id).exists():
        return CarrierEventResult(locked, False, False, f"Event {event_id} was received before; nothing changed.")
    before = locked.status
    mapped = carrier_tables.map_status(carrier, status_code)
    reported, reason = mapped if mapped else ("", "")
    path = CARRIER_PATHS.get((before, reported), [])
    in_order = _in_order(locked, occurred_at)
    note = f"{description} ({location})" if location else description
    label = locked.get_status_display().lower()
    if path and in_order:
        for name in path:
            _step(order, locked, name, actor=None, reason=note, at=occurred_at, exception_reason=reason)
        detail = f"The parcel is now {locked.get_status_display().lower()} (it was {label})."
    elif not reported:
        known = status_code in carrier_tables.STATUS_MAPS.get(carrier.code, {})
        detail = (f"{'An informational scan' if known else f'Status code {status_code} is not one we know'}: "
                  f"recorded on the timeline; the parcel stays {label}.")
    elif not path:
        detail = (f"The parcel is {label}; a {Shipment.Status(reported).label.lower()} event cannot move it: "
                  "recorded on the timeline, nothing changed.")
    else:
        detail = (f"The event is older than the one that made the parcel {label}: recorded on the timeline, "
                  "nothing changed.")
    if locked.last_scan_at is None or occurred_at > locked.last_scan_at:
        locked.last_scan_at = occurred_at
        locked.save(update_fields=["last_scan_at", "updated_at"])
    ShipmentEvent.objects.create(
        shipment=locked, source=ShipmentEvent.Source.CARRIER, from_status=before,
        to_status=locked.status if locked.status != before else "", reported_status=reported, carrier=carrier,
        carrier_event_id=event_id, carrier_status_code=status_code, location=location, description=description,
        occurred_at=occurred_at,
    )
    return CarrierEventResult(locked, True, locked.status != before, detail)


def shipment_record_carrier_event(*, carrier: Carrier | str, tracking_number: str, event_id: str, status_code: str,
                                  occurred_at: datetime, location: str = "", description: str = ""
                                  ) -> CarrierEventResult:
    """Apply one tracking event a carrier pushed. Returns (shipment, created, changed, detail); a repeated event id
    changes nothing.

    Every event goes on the timeline in carrier time. The status only moves forward: an event older than the one
    that set the current status, or one that would move the parcel backwards, is recorded and changes nothing
    (`detail` says which). The carrier's clock may be behind ours by WAYBILL_CARRIER_CLOCK_SKEW_SECONDS.
    """
    if not isinstance(carrier, Carrier):
        code = carrier
        carrier = Carrier.objects.filter(code=code).first()
        if carrier is None:
            raise CarrierNotFound(f"No carrier {code}.", carrier=code)
    try:
        return _record_carrier_event(carrier=carrier, tracking_number=tracking_number, event_id=event_id,
                                     status_code=status_code, occurred_at=occurred_at, location=location[:120],
                                     description=description[:255])
    except IntegrityError:
        # The same event id arrived twice at once for different tracking numbers: the unique constraint kept one.
        if transaction.get_connection().in_atomic_block:
            raise
        existing = ShipmentEvent.objects.select_related("shipment").filter(
            carrier=carrier, carrier_event_id=event_id).first()
        if existing is None:
            raise
        return CarrierEventResult(existing.shipment, False, False,
                                  f"Event {event_id} was received before; nothing changed.")


# --- pick waves ----------------------------------------------------------------------------------------------

@atomic_service
def wave_create(*, warehouse, orders: Sequence[str], carrier=None, actor=None) -> tuple[PickWave, dict[str, str]]:
    """A batch pick list at one warehouse for several orders: each order's units reserved there and in no parcel
    yet go into a new parcel of the wave (a confirmed order starts processing), and its pending parcels there
    join the wave. An order that cannot join is left out with the reason (returned as number → why); the others
    go on. Orders are locked one at a time, in order-number order."""
    warehouse_id = getattr(warehouse, "pk", warehouse)
    if not Warehouse.objects.filter(pk=warehouse_id).exists():
        raise InvalidShipment(f"No warehouse {warehouse_id}.", fields={"warehouse": ["Unknown warehouse."]})
    numbers = sorted(set(orders))
    if not numbers:
        raise InvalidShipment("Choose the orders to pick.", fields={"orders": ["Nothing chosen."]})
    wave = PickWave.objects.create(warehouse_id=warehouse_id, created_by=_person(actor))
    left_out: dict[str, str] = {}
    for number in numbers:
        try:
            with transaction.atomic():
                _join_wave(wave, number, carrier=carrier, actor=actor)
        except DomainError as err:
            left_out[number] = err.message
    if not wave.shipments.exists():
        raise InvalidShipment("None of these orders has anything to pick at this warehouse.",
                              fields={"orders": list(left_out.values())[:20]}, left_out=left_out)
    return wave, left_out


def _join_wave(wave: PickWave, number: str, *, carrier, actor) -> None:
    order_id = Order.objects.filter(number=number).values_list("pk", flat=True).first()
    if order_id is None:
        raise InvalidShipment(f"No order {number}.")
    order = _lock_order(order_id)
    if order.status == Order.Status.CONFIRMED:
        order_transition(order=order.number, name="start_processing", actor=actor,
                         reason=f"Picked in wave {wave.pk}")
        order.refresh_from_db()
    items = [(line_id, qty) for (line_id, warehouse_id), qty in sorted(shippable_quantities(order_id=order.pk).items())
             if warehouse_id == wave.warehouse_id]
    joined = Shipment.objects.filter(order=order, warehouse_id=wave.warehouse_id, wave__isnull=True,
                                     direction=Shipment.Direction.OUTBOUND,
                                     status=Shipment.Status.PENDING).update(wave=wave)
    if items:
        shipment = shipment_create(order=order.number, warehouse=wave.warehouse_id, items=items, carrier=carrier,
                                   actor=actor)
        Shipment.objects.filter(pk=shipment.pk).update(wave=wave)
    elif not joined:
        raise InvalidShipment(f"Order {number} has nothing waiting to be picked at this warehouse.")


# --- the pack station ----------------------------------------------------------------------------------------

@atomic_service
def shipment_pack_and_label(*, shipment: Shipment | int, serials: dict[int, list[str]] | None = None,
                            weight_grams: int | None = None, parcel_size: str = "", carrier=None,
                            tracking_number: str = "", actor=None) -> Shipment:
    """The pack station's one step: a parcel that is pending or picked is picked (if need be), packed with the
    scanned serials, weighed and sized, and labelled with its carrier, all or nothing."""
    pk = getattr(shipment, "pk", shipment)
    errors = {}
    if weight_grams is not None and not (isinstance(weight_grams, int) and 0 < weight_grams <= 70_000):
        errors["weight_grams"] = ["Grams, from 1 to 70000."]
    if parcel_size and parcel_size not in ParcelSize.values:
        errors["parcel_size"] = [f"One of {', '.join(ParcelSize.values)}."]
    if errors:
        raise InvalidShipment("The parcel's weight or size is invalid.", fields=errors)
    current = Shipment.objects.filter(pk=pk).values_list("status", flat=True).first()
    if current == Shipment.Status.PENDING:
        shipment_transition(shipment=pk, name="pick", actor=actor)
    shipment_transition(shipment=pk, name="pack", actor=actor, serials=serials or {})
    Shipment.objects.filter(pk=pk).update(weight_grams=weight_grams, parcel_size=parcel_size or "")
    return shipment_transition(shipment=pk, name="create_label", actor=actor, carrier=carrier,
                               tracking_number=tracking_number)


def shipments_job_run(job, progress) -> dict:
    """The background job behind "Create shipments" for many orders: each order on its own (one refusal does not
    stop the others), the progress saved every ten orders; the summary says what was made and what was refused."""
    created, refused = 0, {}
    numbers = list(job.params.get("orders", []))
    for i, number in enumerate(numbers, start=1):
        try:
            created += len(shipment_create_all(order=number, actor=job.created_by))
        except DomainError as err:
            refused[number] = err.message
        if i % 10 == 0 or i == len(numbers):
            progress(i)
    return {"text": f"{created} shipment(s) made for {len(numbers) - len(refused)} order(s); "
                    f"{len(refused)} refused.", "refused": dict(list(refused.items())[:50])}
