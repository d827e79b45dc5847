"""Every write to a return or claim: creation under the return policy, the lifecycle, inspection, refunds,
replacements and exchanges, photos, and the alerts for returns that wait too long.

Locks follow the rest of Waybill: the order row first, then the return row, then whatever the inventory and
shipping services lock (units, stock levels by primary key). Customer-visible steps go through the notifications
outbox in the same transaction, each with an idempotency key, so each is sent exactly once after commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from config.db import atomic_service
from config.links import order_access_token, order_link
from config.text import clean_text
from inventory.errors import InvalidSerial
from inventory.models import Product, Unit, UnitEvent, Warehouse
from inventory.services import serial_normalize, stock_adjust, stock_return, units_dispose, units_receive_return
from orders.errors import IdempotencyKeyReused
from orders.models import Order, OrderEvent, OrderLine
from orders.services import order_event_record, order_lines_claim, order_place_replacement, order_record_refund
from shipping.models import Shipment, ShipmentUnit
from shipping.services import shipment_create_return, shipment_transition

from .errors import (
    InvalidPhoto,
    InvalidReturn,
    ReturnNotAllowed,
    ReturnNotFound,
    ReturnTransitionForbidden,
    ReturnTransitionNotAllowed,
)
from .models import SHOP_AT_FAULT, Reason, Refund, ReturnEvent, ReturnLine, ReturnPhoto, ReturnRequest
from .selectors import delivered_by_line

R = ReturnRequest.Status
KIND_RETURN = "return"  # the order timeline's kind for every step of a return (registered in ReturnsConfig)
MAX_LINES = 50
MAX_TEXT = 4000
KEEP_IT_REASONS = {Reason.MISSING_ITEM, Reason.DAMAGED_IN_TRANSIT, Reason.DEFECTIVE, Reason.WRONG_ITEM,
                   Reason.NOT_AS_DESCRIBED}
PHOTO_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class LineRequest:
    """One line of a return request: an order line id, how many units, why, and the unit's serial number."""

    line: int
    quantity: int
    reason: str
    serial: str = ""
    description: str = ""


def _person(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _money(value) -> Decimal:
    """A finite amount in cents (a string, int or Decimal; floats are refused: they are not exact)."""
    if isinstance(value, float | bool):
        raise ValueError("amounts are exact decimals, not floats")
    amount = Decimal(str(value).strip())
    if not amount.is_finite():
        raise ValueError("not a finite amount")
    return amount.quantize(Decimal("0.01"))


def _lock_order(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def _lock(return_request: ReturnRequest | str) -> tuple[Order, ReturnRequest]:
    """Lock the return's order, then the return (the same order as every other path)."""
    number = return_request.number if isinstance(return_request, ReturnRequest) else str(return_request)
    order_id = ReturnRequest.objects.filter(number=number).values_list("order_id", flat=True).first()
    if order_id is None:
        raise ReturnNotFound(f"No return {number}.", number=number)
    order = _lock_order(order_id)
    locked = (ReturnRequest.objects.select_for_update(of=("self",))
              .select_related("exchange_product", "warehouse", "label_shipment__carrier").get(number=number))
    return order, locked


def _record(rr: ReturnRequest, *, text: str, kind: str = ReturnEvent.Kind.STATUS, from_status: str = "",
            to_status: str = "", data: dict | None = None, internal: bool = False, actor=None) -> ReturnEvent:
    return ReturnEvent.objects.create(return_request=rr, kind=kind, from_status=from_status, to_status=to_status,
                                      text=text, data={"return_number": rr.number, **(data or {})},
                                      internal=internal, actor=_person(actor))


def _on_order_timeline(order: Order, rr: ReturnRequest, text: str, *, actor=None, internal: bool = False,
                       **data) -> OrderEvent:
    return order_event_record(order=order, kind=KIND_RETURN, text=text, internal=internal, actor=_person(actor),
                              data={"return_number": rr.number, "status": rr.status, **data})


def _site(path: str) -> str:
    return f"{settings.WAYBILL_SITE_URL.rstrip('/')}{path}"


def _payload(rr: ReturnRequest, order: Order, **extra) -> dict:
    lines = list(rr.lines.select_related("order_line", "unit").order_by("pk"))
    return {
        "return_number": rr.number,
        "order_number": order.number,
        "customer_name": order.ship_name,
        "status": rr.status,
        "status_display": rr.get_status_display(),
        "resolution": rr.resolution,
        "resolution_display": rr.get_resolution_display().lower(),
        "handling": rr.handling,
        "lines": [{"sku": line.order_line.sku, "name": line.order_line.name, "quantity": line.quantity,
                   "reason": line.reason, "reason_display": line.get_reason_display(), "serial": line.serial}
                  for line in lines],
        "link": order_link(order.number),
        **extra,
    }


def _notify(event: str, rr: ReturnRequest, order: Order, *, key: str, subject=None, **extra) -> None:
    if not apps.is_installed("notifications"):
        return
    from notifications.services import notification_emit

    notification_emit(event=event, subject=subject or rr, payload=_payload(rr, order, **extra),
                      idempotency_key=f"return:{rr.pk}:{key}")


def _check(rr: ReturnRequest, name: str, *, actor, check_permission: bool = True) -> None:
    """Refuse a step the return's state does not allow now (409) or the person may never take (403)."""
    method = getattr(rr, name)
    if not can_proceed(method):
        raise ReturnTransitionNotAllowed(
            f"Return {rr.number} is {rr.get_status_display().lower()} and cannot {name.replace('_', ' ')}.",
            transition=name, status=rr.status, allowed=allowed_transitions(rr, actor))
    if check_permission and actor is not None and not has_transition_perm(method, actor):
        raise ReturnTransitionForbidden(f"You may not {name.replace('_', ' ')} returns.", transition=name)


def _transition(order: Order, rr: ReturnRequest, name: str, *, actor, reason: str = "", check_permission=True,
                text: str = "", data: dict | None = None) -> None:
    _check(rr, name, actor=actor, check_permission=check_permission)
    method = getattr(rr, name)
    before = rr.status
    method(reason=reason)
    now = timezone.now()
    stamp = {R.APPROVED: "approved_at", R.RECEIVED: "received_at", R.RESOLVED: "resolved_at", R.CLOSED: "closed_at"}
    if rr.status in stamp:
        setattr(rr, stamp[rr.status], now)
    rr.save()
    _record(rr, from_status=before, to_status=rr.status, actor=actor, data=data,
            text=text or reason or f"{R(before).label} → {rr.get_status_display()}")


def allowed_transitions(rr: ReturnRequest, actor=None) -> list[str]:
    names = [t.name for t in rr.get_available_status_transitions()]
    if getattr(actor, "is_authenticated", False):
        names = [n for n in names if has_transition_perm(getattr(rr, n), actor)]
    return names


def _text(value: str, field: str) -> str:
    return clean_text(value, field, limit=MAX_TEXT, error=InvalidReturn)


# --- policy --------------------------------------------------------------------------------------------------

def return_window(product: Product, reason: str) -> int:
    """Days after delivery within which a line may be returned for `reason` (defects: the guarantee period)."""
    if reason == Reason.DEFECTIVE:
        return settings.WAYBILL_DEFECT_CLAIM_DAYS
    if product.return_window_days is not None:
        return product.return_window_days
    return settings.WAYBILL_RETURN_WINDOW_DAYS


def _validated(lines: Sequence[LineRequest | dict]) -> list[LineRequest]:
    if not lines:
        raise InvalidReturn("Choose at least one item to return.", fields={"lines": ["This list may not be empty."]})
    if len(lines) > MAX_LINES:
        raise InvalidReturn(f"At most {MAX_LINES} lines per return.", fields={"lines": [f"At most {MAX_LINES}."]})
    result, errors = [], {}
    for i, raw in enumerate(lines):
        if not isinstance(raw, LineRequest):
            if not isinstance(raw, dict):
                errors[f"lines[{i}]"] = ["Must be an object."]
                continue
            raw = LineRequest(line=raw.get("line"), quantity=raw.get("quantity"), reason=raw.get("reason"),
                              serial=raw.get("serial") or "", description=raw.get("description") or "")
        if not isinstance(raw.line, int) or isinstance(raw.line, bool):
            errors[f"lines[{i}].line"] = ["The id of one of the order's lines."]
        if not isinstance(raw.quantity, int) or isinstance(raw.quantity, bool) or raw.quantity <= 0:
            errors[f"lines[{i}].quantity"] = ["Must be a whole number above zero."]
        if raw.reason not in Reason.values:
            errors[f"lines[{i}].reason"] = [f"One of: {', '.join(Reason.values)}."]
        if not isinstance(raw.serial, str) or not isinstance(raw.description, str):
            errors[f"lines[{i}]"] = ["serial and description are text."]
            continue
        try:
            _text(raw.description, "description")
        except InvalidReturn:
            errors[f"lines[{i}].description"] = [f"At most {MAX_TEXT} characters, no control characters."]
        result.append(raw)
    if errors:
        raise InvalidReturn("Some return lines are invalid.", fields=errors)
    return result


def _units_for(order: Order, wanted: dict[tuple[int, str], int]) -> dict[tuple[int, str], Unit]:
    """(product id, serial) → the unit if it is with this order's customer: its last shipment was with this order
    and it has not come back. One query whatever the number of serials."""
    if not wanted:
        return {}
    condition = Q()
    for product_id, serial in wanted:
        condition |= Q(product_id=product_id, serial=serial)
    last_order = (UnitEvent.objects.filter(unit=OuterRef("pk"), kind=UnitEvent.Kind.SHIPPED)
                  .order_by("-created_at", "-id").values("order_number")[:1])
    units = (Unit.objects.filter(condition, status=Unit.Status.WITH_CUSTOMER)
             .annotate(last_order=Subquery(last_order)).filter(last_order=order.number))
    return {(unit.product_id, unit.serial): unit for unit in units}


def _check_policy(order: Order, requested: list[LineRequest]) -> list[tuple[LineRequest, OrderLine, Unit | None]]:
    lines = {line.pk: line for line in OrderLine.objects.filter(order=order).select_related("product")}
    unknown = {f"lines[{i}].line": [f"Order {order.number} has no line {r.line}."]
               for i, r in enumerate(requested) if r.line not in lines}
    if unknown:
        raise InvalidReturn("Some lines are not on this order.", fields=unknown)
    delivered = delivered_by_line(order=order, lines=lines)
    now = timezone.now()
    refusals, per_line, serials = {}, defaultdict(int), {}
    for i, r in enumerate(requested):
        line = lines[r.line]
        product = line.product
        qty, at = delivered.get(line.pk, (0, None))
        if not qty or at is None:
            refusals[f"lines[{i}]"] = [f"{line.sku} has not been delivered yet: it can be returned once it arrives."]
            continue
        days = return_window(product, r.reason)
        deadline = at + timedelta(days=days)
        if now > deadline:
            refusals[f"lines[{i}]"] = [f"The return window for {line.sku} ({days} days after delivery) ended on "
                                       f"{timezone.localdate(deadline).isoformat()}."]
            continue
        if product.final_sale and r.reason not in SHOP_AT_FAULT:
            refusals[f"lines[{i}]"] = [f"{line.sku} was sold as final sale: it can be returned only if it is "
                                       "defective, damaged, wrong or not as described."]
            continue
        per_line[line.pk] += r.quantity
        returnable = max(qty - line.returned_quantity, 0)
        if per_line[line.pk] > returnable:
            refusals[f"lines[{i}].quantity"] = [
                f"Only {returnable} unit(s) of {line.sku} can be returned ({qty} delivered, "
                f"{line.returned_quantity} already in a return)."]
            continue
        if product.serial_tracked and r.reason != Reason.MISSING_ITEM:
            if r.quantity != 1:
                refusals[f"lines[{i}].quantity"] = [f"{line.sku} is returned one unit per line, each with its "
                                                    "serial number."]
                continue
            try:
                serial = serial_normalize(product, r.serial)
            except InvalidSerial as err:
                raise InvalidReturn(f"Line {i + 1}: {err.message}",
                                    fields={f"lines[{i}].serial": [err.message]}) from None
            if (product.pk, serial) in serials:
                refusals[f"lines[{i}].serial"] = [f"{serial} is named twice."]
                continue
            serials[(product.pk, serial)] = i
        elif r.serial.strip() and not product.serial_tracked:
            raise InvalidReturn(f"{line.sku} has no serial numbers; leave the serial empty.",
                                fields={f"lines[{i}].serial": ["Not a serial-tracked product."]})
    if refusals:
        raise ReturnNotAllowed("Some items cannot be returned.", fields=refusals)
    units = _units_for(order, serials)
    claimed = {unit_id: number for unit_id, number in ReturnLine.objects.filter(
        unit__in=list(units.values()), return_request__status__in=ReturnRequest.CLAIMING,
    ).values_list("unit_id", "return_request__number")}
    for (product_id, serial), i in serials.items():
        unit = units.get((product_id, serial))
        if unit is None:
            refusals[f"lines[{i}].serial"] = [f"{serial} was not shipped with order {order.number}, or it is "
                                              "already back with us. Check the number on the device."]
        elif unit.pk in claimed:
            refusals[f"lines[{i}].serial"] = [f"{serial} is already in return {claimed[unit.pk]}."]
    if refusals:
        raise ReturnNotAllowed("Some serial numbers do not match this order.", fields=refusals)
    result = []
    for r in requested:
        line = lines[r.line]
        unit = None
        if line.product.serial_tracked and r.reason != Reason.MISSING_ITEM:
            unit = units[(line.product_id, serial_normalize(line.product, r.serial))]
        result.append((r, line, unit))
    return result


# --- creation ------------------------------------------------------------------------------------------------

@atomic_service
def return_create(*, order: Order | str, lines: Sequence[LineRequest | dict], resolution: str,
                  channel: str = ReturnRequest.Channel.STAFF, actor=None, customer_note: str = "",
                  exchange_sku: str = "") -> ReturnRequest:
    """A customer's return or claim for delivered items of one order, checked against the return policy.

    Refused whole (and nothing written) when an item is not delivered, outside its window, final sale for a change
    of mind, more than delivered minus already returned, or when a serial was not shipped with this order.
    """
    requested = _validated(lines)
    if resolution not in ReturnRequest.Resolution.values:
        raise InvalidReturn("Unknown resolution.", fields={"resolution": [
            f"One of: {', '.join(ReturnRequest.Resolution.values)}."]})
    if channel not in ReturnRequest.Channel.values:
        raise InvalidReturn("Unknown channel.", fields={"channel": [
            f"One of: {', '.join(ReturnRequest.Channel.values)}."]})
    note = _text(customer_note, "customer_note")
    exchange_product = None
    if resolution == ReturnRequest.Resolution.EXCHANGE:
        exchange_product = Product.objects.filter(sku=exchange_sku or "", active=True).first()
        if exchange_product is None:
            raise InvalidReturn("Name the item wanted in exchange.", fields={"exchange_sku": [
                f"No product {exchange_sku} on sale." if exchange_sku else "Required for an exchange."]})
    elif exchange_sku:
        raise InvalidReturn("exchange_sku is only for an exchange.", fields={"exchange_sku": ["Leave it empty."]})
    number = order.number if isinstance(order, Order) else str(order)
    order_id = Order.objects.filter(number=number).values_list("pk", flat=True).first()
    if order_id is None:
        raise ReturnNotFound(f"No order {number}.", number=number)
    locked = _lock_order(order_id)
    checked = _check_policy(locked, requested)
    rr = ReturnRequest.objects.create(
        order=locked, customer=locked.customer, email=locked.email, resolution=resolution, channel=channel,
        exchange_product=exchange_product, customer_note=note, created_by=_person(actor),
    )
    ReturnLine.objects.bulk_create([
        ReturnLine(return_request=rr, order_line=line, quantity=r.quantity, reason=r.reason, unit=unit,
                   description=r.description.strip())
        for r, line, unit in checked
    ])
    changes: dict[int, int] = defaultdict(int)
    for r, line, _ in checked:
        changes[line.pk] += r.quantity
    order_lines_claim(order=locked, changes=changes)
    summary = ", ".join(f"{r.quantity} × {line.sku}" + (f" ({unit.serial})" if unit else "")
                        for r, line, unit in checked)
    _record(rr, to_status=rr.status, actor=actor, text=f"Return requested ({rr.get_channel_display()}): {summary}.",
            data={"resolution": resolution})
    customer_asked = channel in (ReturnRequest.Channel.PORTAL, ReturnRequest.Channel.API)
    _on_order_timeline(locked, rr, f"Return {rr.number} requested: {summary}. We will reply within two working days."
                       if customer_asked else f"Our customer service opened return {rr.number} for you: {summary}.",
                       actor=actor, resolution=resolution)
    if customer_asked:
        # the customer asked themselves: confirm we have it (staff who enter one tell them on approval)
        _notify("return.requested", rr, locked, key="requested")
    return rr


# --- decisions -----------------------------------------------------------------------------------------------

def _return_warehouse(order: Order, warehouse) -> Warehouse:
    if warehouse is not None:
        return warehouse if isinstance(warehouse, Warehouse) else Warehouse.objects.get(pk=warehouse)
    shipped_from = (Shipment.objects.filter(order=order, direction=Shipment.Direction.OUTBOUND,
                                            status=Shipment.Status.DELIVERED)
                    .select_related("warehouse").order_by("-delivered_at").first())
    if shipped_from is not None:
        return shipped_from.warehouse
    found = Warehouse.objects.filter(active=True).order_by("priority", "code").first()
    if found is None:
        raise InvalidReturn("No warehouse takes returns.", fields={"warehouse": ["Create a warehouse first."]})
    return found


def _return_carrier(order: Order, carrier):
    if carrier:
        return carrier
    shipped_with = (Shipment.objects.filter(order=order, direction=Shipment.Direction.OUTBOUND,
                                            carrier__isnull=False).order_by("-created_at")
                    .values_list("carrier__code", flat=True).first())
    return shipped_with or settings.WAYBILL_RETURN_CARRIER


def _replacement_lines(rr: ReturnRequest) -> list[tuple[Product, int, Decimal]]:
    lines = list(rr.lines.select_related("order_line__product").order_by("pk"))
    if rr.resolution == ReturnRequest.Resolution.EXCHANGE:
        total = sum(line.quantity for line in lines)
        old = sum((line.order_line.unit_price * line.quantity for line in lines), Decimal("0"))
        new = rr.exchange_product.price * total
        per_unit = _money(max(new - old, Decimal("0")) / total)
        return [(rr.exchange_product, total, per_unit)]
    per_product: dict[int, list] = {}
    for line in lines:
        product = line.order_line.product
        per_product.setdefault(product.pk, [product, 0, Decimal("0")])[1] += line.quantity
    return [tuple(row) for row in per_product.values()]


def _send_replacement(order: Order, rr: ReturnRequest, *, actor) -> Order:
    replacement = order_place_replacement(
        original=order.number, lines=_replacement_lines(rr), actor=_person(actor),
        reason=f"{'Exchange' if rr.resolution == ReturnRequest.Resolution.EXCHANGE else 'Replacement'} for return "
               f"{rr.number} of order {order.number}")
    rr.replacement_order = replacement
    rr.save(update_fields=["replacement_order", "updated_at"])
    _record(rr, kind=ReturnEvent.Kind.REPLACEMENT, actor=actor, text=f"Replacement order {replacement.number} "
            "created: it is picked, packed and shipped like any order.",
            data={"replacement_order": replacement.number, "total": str(replacement.total)})
    words = "exchange" if rr.resolution == ReturnRequest.Resolution.EXCHANGE else "replacement"
    _on_order_timeline(order, rr, f"Your {words} is being prepared (order {replacement.number}).", actor=actor,
                       replacement_order=replacement.number)
    return replacement


@atomic_service
def return_approve(*, return_request: ReturnRequest | str, actor=None, handling: str = ReturnRequest.Handling.RETURN,
                   instructions: str = "", warehouse=None, carrier=None, tracking_number: str = "",
                   send_label: bool = True, check_permission: bool = True) -> ReturnRequest:
    """Accept a return or claim and decide how the item is handled.

    return               the item comes back first: a return label is issued (through shipping) and the return
                         waits for the item;
    keep_it              the customer keeps the item (missing, damaged in transit, not worth sending back): the
                         return waits for its resolution;
    advance_replacement  a replacement order leaves at once and the faulty unit is expected back within
                         WAYBILL_ADVANCE_REPLACEMENT_DAYS (staff are alerted if it is not).
    """
    order, rr = _lock(return_request)
    _check(rr, "approve", actor=actor, check_permission=check_permission)
    if handling not in ReturnRequest.Handling.values:
        raise InvalidReturn("Unknown handling.", fields={"handling": [
            f"One of: {', '.join(ReturnRequest.Handling.values)}."]})
    if handling == ReturnRequest.Handling.ADVANCE_REPLACEMENT and rr.resolution == ReturnRequest.Resolution.REFUND:
        raise InvalidReturn("An advance replacement is for a replacement or an exchange, not a refund.",
                            fields={"handling": ["Choose return or keep_it for a refund."]})
    instructions = _text(instructions, "instructions")
    if handling == ReturnRequest.Handling.KEEP_IT:
        reasons = set(rr.lines.values_list("reason", flat=True))
        if not reasons <= KEEP_IT_REASONS:
            raise ReturnNotAllowed("An item returned for a change of mind comes back before it is refunded.",
                                   fields={"handling": ["Choose return."]})
    if check_permission and actor is not None and rr.resolution != ReturnRequest.Resolution.REFUND \
            and not actor.has_perm("returns.replace_returnrequest"):
        raise ReturnTransitionForbidden("You may not send replacements or exchanges.", transition="approve")
    rr.handling = handling
    rr.decision = instructions
    _transition(order, rr, "approve", actor=actor, check_permission=check_permission,
                text=f"Approved: {rr.get_handling_display().lower()}." + (f" {instructions}" if instructions else ""),
                data={"handling": handling})
    label = None
    if handling != ReturnRequest.Handling.KEEP_IT:
        rr.warehouse = _return_warehouse(order, warehouse)
        if send_label:
            items: dict[int, int] = defaultdict(int)
            for line_id, qty in rr.lines.values_list("order_line_id", "quantity"):
                items[line_id] += qty
            label = shipment_create_return(order=order.number, warehouse=rr.warehouse, items=sorted(items.items()),
                                           carrier=_return_carrier(order, carrier), tracking_number=tracking_number,
                                           actor=actor, reason=f"Return label for {rr.number}")
            rr.label_shipment = label
            _record(rr, kind=ReturnEvent.Kind.LABEL, actor=actor,
                    text=f"Return label {label.carrier.name} {label.tracking_number} issued.",
                    data={"shipment_id": label.pk, "tracking_number": label.tracking_number})
        if handling == ReturnRequest.Handling.ADVANCE_REPLACEMENT:
            rr.item_due_by = timezone.localdate() + timedelta(days=settings.WAYBILL_ADVANCE_REPLACEMENT_DAYS)
        _transition(order, rr, "await_item", actor=actor, check_permission=False,
                    text="Waiting for the item" + (f", due by {rr.item_due_by.isoformat()}" if rr.item_due_by else "")
                    + ".")
    replacement = None
    if handling == ReturnRequest.Handling.ADVANCE_REPLACEMENT:
        replacement = _send_replacement(order, rr, actor=actor)
    how = {
        ReturnRequest.Handling.RETURN: "Please send the item back to us with the return label.",
        ReturnRequest.Handling.KEEP_IT: "You do not need to send anything back.",
        ReturnRequest.Handling.ADVANCE_REPLACEMENT: "We are sending the replacement now. Please send the faulty "
        f"item back with the return label by {rr.item_due_by.isoformat() if rr.item_due_by else ''}.",
    }[handling]
    _on_order_timeline(order, rr, f"Return {rr.number} approved. {how}", actor=actor, handling=handling,
                       tracking_number=label.tracking_number if label else "")
    _notify("return.approved", rr, order, key="approved", instructions=instructions, how=how,
            carrier_name=label.carrier.name if label else "", tracking_number=label.tracking_number if label else "",
            label_url=(_site(reverse("portal:return-label", args=[rr.number])) + "?access="
                       + order_access_token(order.number)) if label else "",
            item_due_by=rr.item_due_by.isoformat() if rr.item_due_by else "",
            replacement_order=replacement.number if replacement else "")
    return rr


def _give_back(order: Order, rr: ReturnRequest) -> None:
    changes: dict[int, int] = defaultdict(int)
    for line_id, qty in rr.lines.values_list("order_line_id", "quantity"):
        changes[line_id] -= qty
    order_lines_claim(order=order, changes=changes)


@atomic_service
def return_reject(*, return_request: ReturnRequest | str, reason: str, actor=None,
                  check_permission: bool = True) -> ReturnRequest:
    """Refuse a request, saying why (the customer reads it): its units may be claimed again."""
    reason = _text(reason, "reason")
    if not reason:
        raise InvalidReturn("Say why: the customer reads the reason.", fields={"reason": ["Required."]})
    order, rr = _lock(return_request)
    rr.decision = reason
    _transition(order, rr, "reject", actor=actor, reason=reason, check_permission=check_permission,
                text=f"Rejected: {reason}")
    _give_back(order, rr)
    _on_order_timeline(order, rr, f"Return {rr.number} was not accepted: {reason}", actor=actor)
    _notify("return.rejected", rr, order, key="rejected", reason=reason)
    return rr


@atomic_service
def return_cancel(*, return_request: ReturnRequest | str, reason: str = "", actor=None,
                  check_permission: bool = True) -> ReturnRequest:
    """Withdraw an open return (the customer changed their mind, or staff on their behalf): an unused return label
    is cancelled and the units may be claimed again. Not once a replacement was sent ahead."""
    reason = _text(reason, "reason")
    order, rr = _lock(return_request)
    if rr.replacement_order_id and rr.status in ReturnRequest.OPEN:
        raise ReturnTransitionNotAllowed(
            f"A replacement (order {rr.replacement_order.number}) was already sent for return {rr.number}: receive "
            "the faulty item, or cancel the replacement order first.", transition="cancel", status=rr.status)
    _transition(order, rr, "cancel", actor=actor, reason=reason, check_permission=check_permission,
                text=f"Cancelled{': ' + reason if reason else '.'}")
    label = rr.label_shipment
    if label is not None and label.status in Shipment.OPEN:
        shipment_transition(shipment=label.pk, name="cancel", actor=actor, check_permission=False,
                            reason=f"Return {rr.number} cancelled")
    _give_back(order, rr)
    _on_order_timeline(order, rr, f"Return {rr.number} was cancelled.", actor=actor)
    _notify("return.cancelled", rr, order, key="cancelled", reason=reason)
    return rr


# --- the item comes back -----------------------------------------------------------------------------------------

@atomic_service
def return_receive(*, return_request: ReturnRequest | str, actor=None, note: str = "",
                   check_permission: bool = True) -> ReturnRequest:
    """The returned parcel is in the warehouse: serial-numbered units wait for inspection there (nothing is
    sellable, and no stock moves, until inspection decides)."""
    note = _text(note, "note")
    order, rr = _lock(return_request)
    _transition(order, rr, "receive", actor=actor, check_permission=check_permission,
                text="Item received at the warehouse." + (f" {note}" if note else ""))
    warehouse = rr.warehouse or _return_warehouse(order, None)
    if rr.warehouse_id is None:
        rr.warehouse = warehouse
        rr.save(update_fields=["warehouse", "updated_at"])
    unit_ids = [u for u in rr.lines.exclude(unit=None).order_by("unit_id").values_list("unit_id", flat=True)]
    if unit_ids:
        units_receive_return(unit_ids=unit_ids, warehouse=warehouse, order_number=order.number, actor=actor,
                             reference=rr, text=f"Return {rr.number}")
    _on_order_timeline(order, rr, f"We received your return {rr.number}. We will check the item and let you know.",
                       actor=actor)
    _notify("return.received", rr, order, key="received")
    return rr


@dataclass(frozen=True)
class Inspection:
    """What became of one returned line: restock (at `warehouse`), refurbish, scrap or return to the vendor."""

    line: int
    disposition: str
    warehouse: int | None = None
    note: str = ""


@atomic_service
def return_inspect(*, return_request: ReturnRequest | str, inspections: Sequence[Inspection | dict], actor=None,
                   check_permission: bool = True) -> ReturnRequest:
    """Record the inspection of every line and move stock accordingly, each movement naming the return:
    restocked units go back into the chosen warehouse's stock (return-to-stock movements); scrapped ones come in
    and are written off; refurbished and vendor-bound ones stay out of the sellable stock."""
    order, rr = _lock(return_request)
    _check(rr, "inspect", actor=actor, check_permission=check_permission)  # before any stock moves
    lines = {line.pk: line for line in rr.lines.select_related("order_line__product", "unit").order_by("pk")}
    given, errors = {}, {}
    for i, raw in enumerate(inspections):
        item = raw if isinstance(raw, Inspection) else (Inspection(
            line=raw.get("line"), disposition=raw.get("disposition"), warehouse=raw.get("warehouse"),
            note=raw.get("note") or "") if isinstance(raw, dict) else None)
        if item is None:
            errors[f"inspections[{i}]"] = ["Must be an object."]
        elif item.line not in lines:
            errors[f"inspections[{i}].line"] = [f"Return {rr.number} has no line {item.line}."]
        elif item.disposition not in ReturnLine.Disposition.values or not item.disposition:
            errors[f"inspections[{i}].disposition"] = [
                f"One of: {', '.join(v for v in ReturnLine.Disposition.values if v)}."]
        elif item.line in given:
            errors[f"inspections[{i}].line"] = ["This line appears twice."]
        else:
            given[item.line] = item
    missing = [pk for pk in lines if pk not in given]
    if missing and not errors:
        errors["inspections"] = [f"Inspect every line: {', '.join(str(pk) for pk in missing)} missing."]
    if errors:
        raise InvalidReturn("The inspection is incomplete or invalid.", fields=errors)
    warehouses = Warehouse.objects.in_bulk({i.warehouse for i in given.values() if i.warehouse})
    home = rr.warehouse or _return_warehouse(order, None)
    now = timezone.now()
    for line_id, item in given.items():
        line = lines[line_id]
        note = _text(item.note, "note")
        where = warehouses.get(item.warehouse) if item.warehouse else home
        if item.warehouse and where is None:
            raise InvalidReturn(f"No warehouse {item.warehouse}.", fields={"warehouse": ["Unknown warehouse."]})
        product = line.order_line.product
        if item.disposition == ReturnLine.Disposition.RESTOCK:
            stock_return(items=[(product.pk, where.pk, line.quantity)], actor=_person(actor), reference=rr,
                         reason=f"Return {rr.number}: restocked after inspection")
        elif item.disposition == ReturnLine.Disposition.SCRAP:
            stock_return(items=[(product.pk, where.pk, line.quantity)], actor=_person(actor), reference=rr,
                         reason=f"Return {rr.number}: received for scrapping")
            stock_adjust(product=product, warehouse=where, delta=-line.quantity, write_off=True,
                         actor=_person(actor), reference=rr, reason=f"Return {rr.number}: scrapped after inspection")
        if line.unit_id:
            units_dispose(unit_ids=[line.unit_id], disposition=item.disposition, warehouse=where,
                          order_number=order.number, actor=actor, reference=rr, text=note or f"Return {rr.number}")
        line.disposition, line.disposition_warehouse, line.inspection_note = item.disposition, where, note
        line.inspected_at, line.inspected_by = now, _person(actor)
    ReturnLine.objects.bulk_update(list(lines.values()), ["disposition", "disposition_warehouse", "inspection_note",
                                                          "inspected_at", "inspected_by"])
    summary = "; ".join(f"{lines[pk].order_line.sku}{' ' + lines[pk].serial if lines[pk].unit_id else ''}: "
                        f"{ReturnLine.Disposition(item.disposition).label.lower()}" for pk, item in given.items())
    _record(rr, kind=ReturnEvent.Kind.INSPECTION, actor=actor, internal=True, text=f"Inspected: {summary}.",
            data={"dispositions": {str(pk): item.disposition for pk, item in given.items()}})
    _transition(order, rr, "inspect", actor=actor, check_permission=check_permission, text="Inspection done.")
    return rr


# --- resolutions -------------------------------------------------------------------------------------------------

def _items_value(rr: ReturnRequest) -> Decimal:
    return sum((line.order_line.unit_price * line.quantity
                for line in rr.lines.select_related("order_line").order_by("pk")), Decimal("0"))


def _refund(order: Order, *, items_amount: Decimal, shipping_amount: Decimal, reason: str, actor,
            return_request: ReturnRequest | None, provider_reference: str, idempotency_key: str,
            fingerprint: str) -> tuple[Refund, bool]:
    if idempotency_key:
        earlier = Refund.objects.filter(order=order, idempotency_key=idempotency_key).first()
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise IdempotencyKeyReused("This Idempotency-Key was already used for another refund.",
                                           key=idempotency_key, refund=earlier.pk)
            return earlier, False
    amount = items_amount + shipping_amount
    order_record_refund(order=order.number, amount=amount, actor=_person(actor),
                        text=f"Refund of {amount} {order.currency} issued"
                             + (f" for return {return_request.number}" if return_request else "") + f": {reason}",
                        data={"return_number": return_request.number if return_request else ""})
    refund = Refund.objects.create(
        order=order, return_request=return_request, items_amount=items_amount, shipping_amount=shipping_amount,
        amount=amount, currency=order.currency, reason=reason[:255], provider_reference=provider_reference[:100],
        idempotency_key=idempotency_key, fingerprint=fingerprint, issued_by=_person(actor),
    )
    if return_request is not None:
        _record(return_request, kind=ReturnEvent.Kind.REFUND, actor=actor,
                text=f"Refund of {amount} {order.currency} issued.",
                data={"refund_id": refund.pk, "amount": str(amount), "currency": order.currency})
    if apps.is_installed("notifications"):
        from notifications.services import notification_emit

        notification_emit(event="refund.issued", subject=order, idempotency_key=f"refund:{refund.pk}", payload={
            "order_number": order.number, "customer_name": order.ship_name, "amount": str(amount),
            "currency": order.currency, "items_amount": str(items_amount), "shipping_amount": str(shipping_amount),
            "reason": reason, "return_number": return_request.number if return_request else "",
            "refunded_total": str(order.refunded_total + amount), "total": str(order.total),
            "link": order_link(order.number)})
    return refund, True


@atomic_service
def refund_issue(*, order: Order | str, items_amount=0, shipping_amount=0, reason: str, actor=None,
                 return_request: ReturnRequest | str | None = None, provider_reference: str = "",
                 idempotency_key: str = "", fingerprint: str = "", check_permission: bool = True
                 ) -> tuple[Refund, bool]:
    """Give money back on an order (for a return's items, for shipping, or for an order that came back to us).
    Returns (refund, created): the same idempotency key again returns the first refund.

    The total refunded never exceeds what was paid: checked under the order's row lock and, whatever happens,
    by the order's database constraint. The payment status becomes partially refunded or refunded.
    """
    if check_permission and actor is not None and not actor.has_perm("returns.refund_returnrequest"):
        raise ReturnTransitionForbidden("You may not issue refunds.", transition="refund")
    try:
        items_amount, shipping_amount = _money(items_amount or 0), _money(shipping_amount or 0)
    except (ArithmeticError, TypeError, ValueError):
        raise InvalidReturn("Amounts are decimal numbers.", fields={"amount": ["A number like 49.90."]}) from None
    if items_amount < 0 or shipping_amount < 0 or items_amount + shipping_amount <= 0:
        raise InvalidReturn("A refund is an amount above zero.", fields={"amount": ["Must be above zero."]})
    if items_amount + shipping_amount >= Decimal("1e12"):
        raise InvalidReturn("That amount is too large.", fields={"amount": ["Too large."]})
    reason = _text(reason, "reason")
    if not reason:
        raise InvalidReturn("Say why the money goes back.", fields={"reason": ["Required."]})
    if len(idempotency_key) > 255:
        raise InvalidReturn("Idempotency-Key is at most 255 characters.", fields={"Idempotency-Key": ["Too long."]})
    rr = None
    if return_request is not None:
        order_locked, rr = _lock(return_request)
    else:
        number = order.number if isinstance(order, Order) else str(order)
        order_id = Order.objects.filter(number=number).values_list("pk", flat=True).first()
        if order_id is None:
            raise ReturnNotFound(f"No order {number}.", number=number)
        order_locked = _lock_order(order_id)
    return _refund(order_locked, items_amount=items_amount, shipping_amount=shipping_amount, reason=reason,
                   actor=actor, return_request=rr, provider_reference=provider_reference or "",
                   idempotency_key=idempotency_key, fingerprint=fingerprint)


@atomic_service
def return_resolve(*, return_request: ReturnRequest | str, actor=None, refund_amount=None, refund_shipping=0,
                   provider_reference: str = "", note: str = "", check_permission: bool = True) -> ReturnRequest:
    """Give the customer what the return promised: the refund (the items' price unless another amount is given,
    plus shipping if chosen), the replacement order (unless it was sent ahead), or the exchange (the other item,
    the price difference refunded or left to pay on the exchange order)."""
    note = _text(note, "note")
    order, rr = _lock(return_request)
    method = rr.resolve
    if not can_proceed(method):
        waiting = ": receive and inspect the item first" if rr.status in (R.AWAITING_ITEM, R.RECEIVED) else ""
        raise ReturnTransitionNotAllowed(
            f"Return {rr.number} is {rr.get_status_display().lower()} and cannot be resolved now{waiting}.",
            transition="resolve", status=rr.status, allowed=allowed_transitions(rr, actor))
    if rr.status == R.APPROVED and rr.handling != ReturnRequest.Handling.KEEP_IT:
        raise ReturnTransitionNotAllowed(f"Return {rr.number} waits for the item.", transition="resolve",
                                         status=rr.status)
    if check_permission and actor is not None:
        needed = ("returns.refund_returnrequest" if rr.resolution == ReturnRequest.Resolution.REFUND
                  else "returns.replace_returnrequest")
        if not actor.has_perm(needed):
            raise ReturnTransitionForbidden("You may not resolve this return.", transition="resolve")
    extra: dict = {}
    R_ = ReturnRequest.Resolution
    if rr.resolution == R_.REFUND:
        items = _items_value(rr) if refund_amount is None else refund_amount
        _refund(order, items_amount=_money(items), shipping_amount=_money(refund_shipping or 0),
                reason=note or f"Return {rr.number}", actor=actor, return_request=rr,
                provider_reference=provider_reference, idempotency_key=f"return:{rr.number}:resolve",
                fingerprint="")
    else:
        sent_ahead = rr.replacement_order is not None
        replacement = rr.replacement_order or _send_replacement(order, rr, actor=actor)
        extra["replacement_order"] = replacement.number
        if rr.resolution == R_.EXCHANGE:
            old = _items_value(rr)
            new = rr.exchange_product.price * sum(rr.lines.values_list("quantity", flat=True))
            if old > new:
                _refund(order, items_amount=_money(old - new), shipping_amount=Decimal("0"),
                        reason=f"Price difference of exchange {rr.number}", actor=actor, return_request=rr,
                        provider_reference=provider_reference, idempotency_key=f"return:{rr.number}:difference",
                        fingerprint="")
            elif new > old:
                extra["amount_due"] = str(_money(new - old))
    _transition(order, rr, "resolve", actor=actor, check_permission=False,
                text=f"Resolved: {rr.get_resolution_display().lower()}." + (f" {note}" if note else ""), data=extra)
    if rr.resolution != R_.REFUND and not sent_ahead:
        words = {R_.REPLACEMENT: "a replacement",
                 R_.EXCHANGE: f"{getattr(rr.exchange_product, 'name', 'another item')} in exchange"}
        _on_order_timeline(order, rr, f"Return {rr.number} is settled: we are sending you {words[rr.resolution]}"
                           f" (order {extra['replacement_order']}).", actor=actor, **extra)
        _notify("return.resolved", rr, order, key="resolved", **extra)
    return rr


@atomic_service
def return_close(*, return_request: ReturnRequest | str, actor=None, check_permission: bool = True
                 ) -> ReturnRequest:
    order, rr = _lock(return_request)
    _transition(order, rr, "close", actor=actor, check_permission=check_permission, text="Closed.")
    return rr


@atomic_service
def return_add_note(*, return_request: ReturnRequest | str, text: str, actor=None,
                    internal: bool = True) -> ReturnEvent:
    text = _text(text, "text")
    if not text:
        raise InvalidReturn("A note cannot be empty.", fields={"text": ["Write something."]})
    _, rr = _lock(return_request)
    return _record(rr, kind=ReturnEvent.Kind.NOTE, text=text, internal=internal, actor=actor)


# --- photos --------------------------------------------------------------------------------------------------

@atomic_service
def return_add_photo(*, line: ReturnLine | int, upload, actor=None) -> ReturnPhoto:
    """A photo of a returned item (the damage, the label, the serial plate): JPEG, PNG or WebP, checked by its
    content (not its name), at most WAYBILL_RETURN_PHOTO_MAX_BYTES, WAYBILL_RETURN_PHOTOS_PER_LINE per line."""
    from PIL import Image, UnidentifiedImageError

    line_id = getattr(line, "pk", line)
    line_obj = ReturnLine.objects.select_related("return_request").filter(pk=line_id).first()
    if line_obj is None:
        raise ReturnNotFound(f"No return line {line_id}.", line=line_id)
    size = getattr(upload, "size", None) or 0
    limit = settings.WAYBILL_RETURN_PHOTO_MAX_BYTES
    if size <= 0:
        raise InvalidPhoto("The photo is empty.", fields={"photo": ["Choose an image file."]})
    if size > limit:
        raise InvalidPhoto(f"The photo is {size // 1024} KB; at most {limit // (1024 * 1024)} MB.",
                           fields={"photo": [f"At most {limit // (1024 * 1024)} MB."]}, size=size, limit=limit)
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidPhoto("That file is not a photo we can read: send a JPEG, PNG or WebP image.",
                           fields={"photo": ["JPEG, PNG or WebP."]}) from None
    if kind not in PHOTO_TYPES:
        raise InvalidPhoto(f"{kind} images are not accepted: send a JPEG, PNG or WebP image.",
                           fields={"photo": ["JPEG, PNG or WebP."]})
    _, rr = _lock(line_obj.return_request)
    if ReturnPhoto.objects.filter(line=line_obj).count() >= settings.WAYBILL_RETURN_PHOTOS_PER_LINE:
        raise InvalidPhoto(f"At most {settings.WAYBILL_RETURN_PHOTOS_PER_LINE} photos per item.",
                           fields={"photo": ["Too many photos."]})
    upload.seek(0)
    upload.name = f"photo.{kind.lower().replace('jpeg', 'jpg')}"
    photo = ReturnPhoto(line=line_obj, content_type=PHOTO_TYPES[kind], size=size, uploaded_by=_person(actor))
    photo.image.save(upload.name, upload, save=False)
    photo.save()
    _record(rr, kind=ReturnEvent.Kind.NOTE, actor=actor, text=f"Photo added to {line_obj.order_line.sku}.",
            data={"photo_id": photo.pk, "line": line_obj.pk})
    return photo


# --- hooks: the replacement parcel and the return parcel ---------------------------------------------------------

def on_shipment_status_changed(sender, *, shipment, event, payload, **kwargs) -> None:
    """A replacement order's parcel left: record the serial of each unit sent beside the faulty one and tell the
    customer their replacement is on its way (in place of the plain "shipped" email). A return parcel reached
    the warehouse: staff see it on the return's timeline."""
    if event in ("shipment.shipped", "shipment.delivered") and shipment.order.replaces_id:
        rr = ReturnRequest.objects.filter(replacement_order_id=shipment.order_id).select_related(
            "order", "exchange_product").first()
        if rr is not None and event == "shipment.shipped":
            _replacement_shipped(rr, shipment, payload)
        elif rr is not None:
            _notify("return.replacement_delivered", rr, rr.order, key=f"replacement_delivered:{shipment.pk}",
                    subject=shipment.order, replacement_order=shipment.order.number,
                    **{k: payload.get(k) for k in ("carrier_name", "tracking_number", "tracking_url")})
    elif event == "return_parcel.delivered":
        rr = ReturnRequest.objects.filter(label_shipment=shipment).first()
        if rr is not None:
            _record(rr, kind=ReturnEvent.Kind.PARCEL, internal=True,
                    text=f"Return parcel {shipment.tracking_number} delivered to {shipment.warehouse.code}: unpack "
                         "it and receive the return.", data={"shipment_id": shipment.pk})


def _replacement_shipped(rr: ReturnRequest, shipment: Shipment, payload: dict) -> None:
    units = list(ShipmentUnit.objects.filter(shipment=shipment).select_related("unit").order_by("pk"))
    lines = list(rr.lines.select_related("order_line", "unit").order_by("pk"))
    wanted = rr.exchange_product_id
    sent = []
    for shipment_unit in units:
        unit = shipment_unit.unit
        line = next((line for line in lines if line.replacement_unit_id is None
                     and (wanted or line.order_line.product_id) == unit.product_id), None)
        if line is not None:
            line.replacement_unit = unit
            sent.append((line, unit))
    ReturnLine.objects.bulk_update([line for line, _ in sent], ["replacement_unit"])
    serials = [unit.serial for _, unit in sent]
    pairs = [f"{line.serial} → {unit.serial}" if line.serial else unit.serial for line, unit in sent]
    text = (f"Replacement shipped with {payload.get('carrier_name', '')} {payload.get('tracking_number', '')}"
            + (f" (serial {', '.join(pairs)})" if pairs else "") + ".")
    _record(rr, kind=ReturnEvent.Kind.REPLACEMENT, text=text,
            data={"shipment_id": shipment.pk, "replacement_serials": serials,
                  "tracking_number": payload.get("tracking_number", "")})
    _on_order_timeline(rr.order, rr, f"Your replacement is on its way: {payload.get('carrier_name', '')} "
                       f"{payload.get('tracking_number', '')}.", replacement_order=shipment.order.number,
                       tracking_number=payload.get("tracking_number", ""), replacement_serials=serials)
    _notify("return.replacement_shipped", rr, rr.order, key=f"replacement_shipped:{shipment.pk}",
            subject=shipment.order, replacement_order=shipment.order.number, replacement_serials=serials,
            **{k: payload.get(k) for k in ("carrier_name", "tracking_number", "tracking_url", "estimated_delivery")})


# --- alerts ------------------------------------------------------------------------------------------------------

@atomic_service
def return_record_alert(*, return_request: ReturnRequest, text: str) -> ReturnEvent:
    """Put a staff alert raised about the return (analytics' time-in-state rules: received and not resolved, the
    faulty item of an advance replacement not back) on its timeline, for staff only."""
    return _record(return_request, kind=ReturnEvent.Kind.ALERT, internal=True, text=text)


__all__ = [
    "Inspection", "LineRequest", "allowed_transitions", "refund_issue", "return_add_note", "return_add_photo",
    "return_approve", "return_cancel", "return_close", "return_create", "return_inspect", "return_receive",
    "return_record_alert", "return_reject", "return_resolve", "return_window",
]


@atomic_service
def returns_attach_customer(*, customer, order_ids) -> int:
    """Returns of guest orders that joined the customer's account are theirs too."""
    return ReturnRequest.objects.filter(order_id__in=list(order_ids), customer__isnull=True).update(customer=customer)
