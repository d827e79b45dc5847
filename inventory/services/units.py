"""Serial numbers: every unit of a serial-tracked product that leaves carries one, and its history is kept.

A unit is registered when it is received with its serial, or, for stock that arrived before serials were
scanned, the first time it is packed. Locks: unit rows in primary-key order, inside the caller's transaction
(shipping holds the order and shipment rows first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.utils import timezone

from ..errors import InvalidSerial, SerialUnavailable
from ..models import Product, Unit, UnitEvent, Warehouse, serial_text
from .stock import _reference_fields

SERIAL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9./-]{2,63}")
S = Unit.Status
K = UnitEvent.Kind


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def serial_normalize(product: Product, raw: str) -> str:
    """The serial as stored: trimmed, upper case, spaces removed (scanners and people add them); checked against
    the product's format. An IMEI is 15 digits whose last is the Luhn check digit."""
    serial = serial_text(raw)
    if product.serial_format == Product.SerialFormat.IMEI:
        if not (len(serial) == 15 and serial.isdigit() and serial.isascii() and _luhn_valid(serial)):
            raise InvalidSerial(f"{serial or 'An empty value'} is not an IMEI: 15 digits with a valid check digit.",
                                serial=serial, sku=product.sku)
    elif not (SERIAL_PATTERN.fullmatch(serial) and serial.isascii()):
        raise InvalidSerial(f"{serial or 'An empty value'} is not a serial number: 3 to 64 letters, digits, dots, "
                            "slashes or dashes.", serial=serial, sku=product.sku)
    return serial


def _normalized(product: Product, serials: Iterable[str]) -> list[str]:
    result = [serial_normalize(product, raw) for raw in serials]
    repeated = sorted({s for s in result if result.count(s) > 1})
    if repeated:
        raise InvalidSerial(f"{', '.join(repeated)} scanned twice: each unit has its own serial number.",
                            serials=repeated, sku=product.sku)
    return result


def _locked(product: Product, serials: Sequence[str]) -> dict[str, Unit]:
    units = Unit.objects.select_for_update().filter(product=product, serial__in=serials).order_by("pk")
    return {unit.serial: unit for unit in units}


def _events(units: Iterable[Unit], kind: str, *, actor=None, order_number: str = "", reference=None,
            text: str = "", replacement: bool = False) -> None:
    person = actor if getattr(actor, "is_authenticated", False) else None
    ref = _reference_fields(reference)
    UnitEvent.objects.bulk_create([
        UnitEvent(unit=unit, kind=kind, status=unit.status, warehouse_id=unit.warehouse_id, order_number=order_number,
                  replacement=replacement, text=text[:255], actor=person, **ref)
        for unit in units
    ])


def _save(units: Sequence[Unit]) -> None:
    now = timezone.now()
    for unit in units:
        unit.updated_at = now  # bulk_update does not run auto_now
    Unit.objects.bulk_update(list(units), ["status", "warehouse", "updated_at"])


UNAVAILABLE = {
    S.PACKED: "is already packed in another parcel",
    S.WITH_CUSTOMER: "is out with a customer: it was shipped and has not come back",
    S.AWAITING_INSPECTION: "came back from a customer and has not been inspected",
    S.REFURBISHING: "is being refurbished",
    S.SCRAPPED: "was scrapped",
    S.RETURNED_TO_VENDOR: "was returned to the vendor",
}


@transaction.atomic
def units_receive(*, product: Product, warehouse: Warehouse, serials: Sequence[str], actor=None, batch: str = "",
                  reference=None) -> list[Unit]:
    """Register units that arrived with their serial numbers (a supplier delivery)."""
    serials = _normalized(product, serials)
    known = sorted(Unit.objects.filter(product=product, serial__in=serials).values_list("serial", flat=True))
    if known:
        raise SerialUnavailable(f"{', '.join(known)} {'is' if len(known) == 1 else 'are'} already known for "
                                f"{product.sku}.", serials=known, sku=product.sku)
    units = Unit.objects.bulk_create([Unit(product=product, serial=serial, warehouse=warehouse, batch=batch[:64])
                                      for serial in serials])
    _events(units, K.RECEIVED, actor=actor, reference=reference, text=batch)
    return units


@transaction.atomic
def units_pack(*, product: Product, warehouse: Warehouse, serials: Sequence[str], order_number: str, actor=None,
               reference=None) -> list[Unit]:
    """The units scanned into a parcel: each must be in stock (a serial not seen before is registered as received
    at this warehouse). Refused whole, naming the serial, if one is packed elsewhere, out with a customer, back for
    inspection, scrapped, or recorded at another warehouse."""
    serials = _normalized(product, serials)
    # A serial seen for the first time is inserted now (ON CONFLICT DO NOTHING); a concurrent packer of the same
    # serial then waits on the row lock below and finds it packed.
    known = set(Unit.objects.filter(product=product, serial__in=serials).values_list("serial", flat=True))
    fresh = [Unit(product=product, serial=serial, warehouse=warehouse) for serial in serials if serial not in known]
    if fresh:
        Unit.objects.bulk_create(fresh, ignore_conflicts=True)
    units = _locked(product, serials)
    new = [units[s] for s in serials if s not in known]
    if new:
        _events(new, K.RECEIVED, actor=actor, text="First recorded when packed", reference=reference)
    for serial in serials:
        unit = units[serial]
        if unit.status != S.IN_STOCK:
            raise SerialUnavailable(f"{product.sku} {serial} {UNAVAILABLE[unit.status]}.", serial=serial,
                                    sku=product.sku, status=unit.status)
        if unit.warehouse_id not in (None, warehouse.pk):
            raise SerialUnavailable(f"{product.sku} {serial} is recorded at {unit.warehouse.code}, not "
                                    f"{warehouse.code}: check the unit, or transfer it first.", serial=serial,
                                    sku=product.sku)
        unit.status, unit.warehouse = S.PACKED, warehouse
    packed = [units[s] for s in serials]
    _save(packed)
    _events(packed, K.PACKED, actor=actor, order_number=order_number, reference=reference)
    return packed


def _move(unit_ids: Sequence[int], *, expect: str, to: str, kind: str, warehouse_id=..., **event) -> list[Unit]:
    units = list(Unit.objects.select_for_update().filter(pk__in=list(unit_ids)).order_by("pk"))
    for unit in units:
        if unit.status != expect:
            raise SerialUnavailable(f"{unit.serial} {UNAVAILABLE.get(unit.status, 'is in stock')}.",
                                    serial=unit.serial, status=unit.status)
        unit.status = to
        if warehouse_id is not ...:
            unit.warehouse_id = warehouse_id
    _save(units)
    _events(units, kind, **event)
    return units


@transaction.atomic
def units_ship(*, unit_ids: Sequence[int], order_number: str, actor=None, reference=None,
               replacement: bool = False) -> list[Unit]:
    """Packed units left with the carrier: they are with the customer of `order_number` now."""
    return _move(unit_ids, expect=S.PACKED, to=S.WITH_CUSTOMER, kind=K.SHIPPED, warehouse_id=None, actor=actor,
                 order_number=order_number, reference=reference, replacement=replacement)


@transaction.atomic
def units_unpack(*, unit_ids: Sequence[int], actor=None, reference=None) -> list[Unit]:
    """A parcel was cancelled before it left: its units are in stock again."""
    return _move(unit_ids, expect=S.PACKED, to=S.IN_STOCK, kind=K.UNPACKED, actor=actor, reference=reference)


@transaction.atomic
def units_return_to_stock(*, unit_ids: Sequence[int], warehouse: Warehouse, order_number: str, actor=None,
                          reference=None, text: str = "") -> list[Unit]:
    """Units of a parcel returned to sender (never opened by the customer) are in stock again."""
    return _move(unit_ids, expect=S.WITH_CUSTOMER, to=S.IN_STOCK, kind=K.BACK_TO_STOCK, warehouse_id=warehouse.pk,
                 actor=actor, order_number=order_number, reference=reference, text=text)


@transaction.atomic
def units_receive_return(*, unit_ids: Sequence[int], warehouse: Warehouse, order_number: str, actor=None,
                         reference=None, text: str = "") -> list[Unit]:
    """Units a customer sent back arrived: they wait for inspection at `warehouse` (not sellable yet)."""
    return _move(unit_ids, expect=S.WITH_CUSTOMER, to=S.AWAITING_INSPECTION, kind=K.RETURN_RECEIVED,
                 warehouse_id=warehouse.pk, actor=actor, order_number=order_number, reference=reference, text=text)


DISPOSITIONS = {
    # disposition: (unit status after it, unit event kind)
    "restock": (S.IN_STOCK, K.RESTOCKED),
    "refurbish": (S.REFURBISHING, K.REFURBISHED),
    "scrap": (S.SCRAPPED, K.SCRAPPED),
    "return_to_vendor": (S.RETURNED_TO_VENDOR, K.RETURNED_TO_VENDOR),
}


@transaction.atomic
def units_dispose(*, unit_ids: Sequence[int], disposition: str, warehouse: Warehouse | None = None,
                  order_number: str = "", actor=None, reference=None, text: str = "") -> list[Unit]:
    """Inspected units get their fate: restocked (at `warehouse`), refurbished, scrapped or returned to the
    vendor. An inspection entry and the disposition's entry go on each unit's history."""
    if disposition not in DISPOSITIONS:
        raise InvalidSerial(f"Unknown disposition {disposition!r}.", disposition=disposition,
                            allowed=sorted(DISPOSITIONS))
    status, kind = DISPOSITIONS[disposition]
    units = list(Unit.objects.select_for_update().filter(pk__in=list(unit_ids)).order_by("pk"))
    for unit in units:
        if unit.status != S.AWAITING_INSPECTION:
            raise SerialUnavailable(f"{unit.serial} {UNAVAILABLE.get(unit.status, 'is in stock')}; only a unit "
                                    "back with us is inspected.", serial=unit.serial, status=unit.status)
    _events(units, K.INSPECTED, actor=actor, order_number=order_number, reference=reference, text=text)
    for unit in units:
        unit.status = status
        if disposition == "restock" and warehouse is not None:
            unit.warehouse = warehouse
        elif disposition in ("scrap", "return_to_vendor"):
            unit.warehouse = None
    _save(units)
    _events(units, kind, actor=actor, order_number=order_number, reference=reference, text=text)
    return units


def unit_shipped_to(*, product: Product, serial: str, order_number: str) -> Unit | None:
    """The unit with this serial if it is with the customer of `order_number` (shipped with that order and not
    back), else None."""
    unit = Unit.objects.filter(product=product, serial=serial).first()
    if unit is None or unit.status != S.WITH_CUSTOMER:
        return None
    last = (UnitEvent.objects.filter(unit=unit, kind=K.SHIPPED).order_by("-created_at", "-id")
            .values_list("order_number", flat=True).first())
    return unit if last == order_number else None
