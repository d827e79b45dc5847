"""The pack station's reads: a parcel's lines as a packer sees them, and what one scan means for them.

A scan is a SKU or EAN (for products without serial numbers) or a unit's serial (IMEI for phones). Each is
checked at once against the parcel, so a wrong or extra item is refused while the packer still holds it; the
final pack re-checks everything under row locks (shipping.services.shipment_pack_and_label)."""

from __future__ import annotations

from dataclasses import dataclass, field

from config.text import has_control_characters
from inventory.errors import InvalidSerial
from inventory.models import Product, Unit
from inventory.services import serial_normalize
from inventory.services.units import UNAVAILABLE

from .models import Shipment, ShipmentLine

PACKABLE = [Shipment.Status.PENDING, Shipment.Status.PICKED]


class ScanRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class PackLine:
    line_id: int
    sku: str
    name: str
    quantity: int
    product: Product
    scanned: list[str] = field(default_factory=list)  # serials, or the codes scanned for untracked items

    @property
    def tracked(self) -> bool:
        return self.product.serial_tracked

    @property
    def kind(self) -> str:
        return "IMEI" if self.product.serial_format == Product.SerialFormat.IMEI else "serial number"

    @property
    def done(self) -> bool:
        return len(self.scanned) >= self.quantity


def pack_lines(shipment: Shipment, scans: list[dict]) -> list[PackLine]:
    """The parcel's lines (one query) with the scans recorded so far ({"line": id, "code": ...})."""
    lines = [PackLine(sl.order_line_id, sl.order_line.sku, sl.order_line.name, sl.quantity, sl.order_line.product)
             for sl in ShipmentLine.objects.filter(shipment=shipment).select_related("order_line__product")
             .order_by("pk")]
    by_id = {line.line_id: line for line in lines}
    for scan in scans:
        if scan.get("line") in by_id:
            by_id[scan["line"]].scanned.append(scan["code"])
    return lines


def pack_scan(lines: list[PackLine], code: str, *, warehouse_id: int) -> dict:
    """What one scan is: {"line": id, "code": serial or SKU} for the line it fills, or ScanRefused saying why."""
    code = " ".join((code or "").split())
    if not code or len(code) > 64 or has_control_characters(code, single_line=True):
        raise ScanRefused("Scan an item's barcode or serial number.")
    upper = code.upper()
    for line in lines:
        if upper == line.sku.upper() or (line.product.ean and code == line.product.ean):
            if line.tracked:
                raise ScanRefused(f"{line.sku} has serial numbers: scan the {line.kind} of this unit (on its box), "
                                  "not the product barcode.")
            if line.done:
                raise ScanRefused(f"All {line.quantity} × {line.sku} are already scanned: this one is extra, put "
                                  "it back.")
            return {"line": line.line_id, "code": line.sku}
    tracked = [line for line in lines if line.tracked]
    candidates = []
    for line in tracked:
        try:
            candidates.append((line, serial_normalize(line.product, code)))
        except InvalidSerial:
            continue
    if not candidates:
        raise ScanRefused(f"{code} is not in this parcel: check the item against the packing slip.")
    serials = {serial for _, serial in candidates}
    if any(serial in line.scanned for line in tracked for serial in serials):
        raise ScanRefused(f"{code} is already scanned: each unit is scanned once.")
    known = {u.serial: u for u in Unit.objects.filter(serial__in=serials).select_related("product", "warehouse")}
    for line, serial in candidates:
        unit = known.get(serial)
        if unit is not None and unit.product_id != line.product.pk:
            if any(unit.product_id == other.product.pk for other, _ in candidates):
                continue
            raise ScanRefused(f"{serial} is a {unit.product.sku}, which is not in this parcel.")
        if line.done:
            raise ScanRefused(f"All {line.quantity} × {line.sku} are already scanned: this unit is extra, put it "
                              "back.")
        if unit is not None and unit.status != Unit.Status.IN_STOCK:
            raise ScanRefused(f"{line.sku} {serial} {UNAVAILABLE.get(unit.status, 'is not in stock')}: take "
                              "another unit.")
        if unit is not None and unit.warehouse_id not in (None, warehouse_id):
            raise ScanRefused(f"{line.sku} {serial} is recorded at {unit.warehouse.code}, not here: take another "
                              "unit, or transfer it first.")
        return {"line": line.line_id, "code": serial}
    raise ScanRefused(f"{code} is not in this parcel: check the item against the packing slip.")


def parcel_for_scan(code: str) -> Shipment | None:
    """The parcel a packer means by a scan at the station: its number (as on the packing slip, "1821" or
    "P1821"), or an order number (its first parcel waiting to be packed)."""
    code = " ".join((code or "").split()).upper()
    if not code or len(code) > 64 or has_control_characters(code, single_line=True):
        return None
    parcels = Shipment.objects.filter(direction=Shipment.Direction.OUTBOUND, status__in=PACKABLE)
    digits = code.removeprefix("P").removeprefix("#")
    if digits.isdigit() and len(digits) < 12:
        return parcels.filter(pk=int(digits)).first()
    return parcels.filter(order__number=code).order_by("pk").first()
