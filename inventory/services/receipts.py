"""Goods receipts: a supplier delivery booked in, line by line, through the ledger."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import IntegrityError, transaction
from django.db.models.functions import Upper

from config.db import atomic_service
from config.text import has_control_characters

from ..errors import InvalidReceipt, InvalidSerial, ReceiptAlreadyBooked
from ..models import GoodsReceipt, GoodsReceiptLine, Product, Unit, Warehouse
from .stock import stock_receive
from .units import _normalized, units_receive

MAX_LINES = 500

# Who hears of a booked receipt, in its transaction (orders allocates backordered lines from it): f(receipt).
RECEIPT_LISTENERS: list[Callable[[GoodsReceipt], None]] = []


def register_receipt_listener(listener: Callable[[GoodsReceipt], None]) -> None:
    if listener not in RECEIPT_LISTENERS:
        RECEIPT_LISTENERS.append(listener)


@atomic_service  # the listeners lock orders after the receipt locked stock: a deadlock is retried as a whole
def goods_receipt_create(*, warehouse: Warehouse | str, supplier: str, lines: Sequence[dict], reference: str = "",
                         note: str = "", actor=None) -> GoodsReceipt:
    """Book a delivery: `lines` are {"sku", "quantity", "serials"} (serials for serial-tracked products, one per
    unit). Every line is checked before anything is written, and every problem is named by its line; then each
    line is one receipt movement in the ledger (and its units are registered), in product order. A delivery note
    already booked for this supplier and warehouse is refused (ReceiptAlreadyBooked)."""
    warehouse = _warehouse(warehouse)
    supplier, reference = " ".join((supplier or "").split()), " ".join((reference or "").split())
    errors: dict[str, list[str]] = {}
    if not supplier:
        errors["supplier"] = ["Who delivered it?"]
    if not lines:
        errors["lines"] = ["Add at least one line."]
    if len(lines) > MAX_LINES:
        errors["lines"] = [f"At most {MAX_LINES} lines per receipt."]
    skus = [str((line or {}).get("sku") or "").strip().upper() for line in lines[:MAX_LINES]]
    skus = ["" if has_control_characters(s, single_line=True) or len(s) > 64 else s for s in skus]
    products = {p.sku.upper(): p for p in Product.objects.filter(sku__in={s for s in skus if s})}
    products.update({p.sku.upper(): p for p in Product.objects.annotate(u=Upper("sku")).filter(
        u__in={s for s in skus if s} - set(products))})
    planned: list[tuple[Product, int, list[str]]] = []
    seen: set[int] = set()
    for i, (raw, sku) in enumerate(zip(lines[:MAX_LINES], skus, strict=True)):
        raw = raw or {}
        product = products.get(sku)
        quantity = raw.get("quantity")
        serials = [str(s).strip() for s in (raw.get("serials") or []) if str(s).strip()]
        if product is None:
            shown = sku if sku and not has_control_characters(sku, single_line=True) else "(that code)"
            errors[f"lines[{i}].sku"] = [f"No product {shown[:64] or '(empty)'}."]
            continue
        if product.pk in seen:
            errors[f"lines[{i}].sku"] = [f"{product.sku} is on two lines: put its whole quantity on one."]
            continue
        seen.add(product.pk)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= 1_000_000:
            errors[f"lines[{i}].quantity"] = ["A whole number of units above zero."]
            continue
        if product.serial_tracked:
            if len(serials) != quantity:
                errors[f"lines[{i}].serials"] = [f"{product.sku} has serial numbers: scan one per unit ({quantity}),"
                                                 f" {len(serials)} given."]
                continue
            try:
                serials = _normalized(product, serials)
            except InvalidSerial as err:
                errors[f"lines[{i}].serials"] = [err.message]
                continue
            known = sorted(Unit.objects.filter(product=product, serial__in=serials).values_list("serial", flat=True))
            if known:
                errors[f"lines[{i}].serials"] = [f"Already known for {product.sku}: {', '.join(known[:10])}."]
                continue
        elif serials:
            errors[f"lines[{i}].serials"] = [f"{product.sku} has no serial numbers: leave them out."]
            continue
        planned.append((product, quantity, serials))
    if errors:
        raise InvalidReceipt("The receipt cannot be booked as it is.", fields=errors)
    person = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            receipt = GoodsReceipt.objects.create(warehouse=warehouse, supplier=supplier[:200],
                                                  reference=reference[:100], note=(note or "")[:4000],
                                                  received_by=person)
    except IntegrityError:
        raise ReceiptAlreadyBooked(
            f"Delivery note {reference} from {supplier} is already booked at {warehouse.code}: the goods are counted.",
            reference=reference, supplier=supplier) from None
    GoodsReceiptLine.objects.bulk_create([GoodsReceiptLine(receipt=receipt, product=p, quantity=q, serials=s)
                                          for p, q, s in planned])
    reason = f"{supplier}" + (f" · {reference}" if reference else "")
    for product, quantity, serials in sorted(planned, key=lambda item: item[0].pk):  # the lock order of levels
        stock_receive(product=product, warehouse=warehouse, quantity=quantity, actor=person, reason=reason,
                      reference=receipt)
        if serials:
            units_receive(product=product, warehouse=warehouse, serials=serials, actor=person, batch=reference,
                          reference=receipt)
    for listener in RECEIPT_LISTENERS:
        listener(receipt)
    return receipt


def _warehouse(warehouse: Warehouse | str) -> Warehouse:
    if isinstance(warehouse, Warehouse):
        return warehouse
    found = Warehouse.objects.filter(code=str(warehouse or "").strip().upper(), active=True).first()
    if found is None:
        raise InvalidReceipt(f"No active warehouse {warehouse}.", fields={"warehouse": ["Unknown warehouse."]})
    return found
