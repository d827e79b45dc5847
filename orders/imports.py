"""Orders imported from a spreadsheet (CSV or XLSX): one row per order line, rows with the same `order_ref` are one
order. Each order is placed through order_place (prices from the catalogue, stock reserved, the same timeline and
emails); a preview places them and rolls back, naming every row's problem, and the import places them all in one
transaction. `order_ref` is the order's idempotency key: importing a file twice places its orders once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import tablib
from django.db import transaction

from config.errors import DomainError
from config.formtools import line_field
from config.text import has_control_characters

from .models import Order
from .services import order_place

COLUMNS = ["order_ref", "email", "phone", "name", "line1", "line2", "postal_code", "city", "region", "country",
           "sku", "quantity"]
REQUIRED = ["order_ref", "email", "name", "line1", "city", "country", "sku", "quantity"]
MAX_ROWS = 5000


@dataclass
class ImportedOrder:
    ref: str
    rows: list[int] = field(default_factory=list)  # spreadsheet row numbers (2 = the first under the header)
    head: dict = field(default_factory=dict)
    lines: list[dict] = field(default_factory=list)
    error: str = ""
    number: str = ""


class Rollback(Exception):
    pass


def read_orders(content: bytes, *, fmt: str) -> tuple[list[ImportedOrder], list[str]]:
    """The file's orders, grouped by order_ref, and the problems of the file itself (columns, size)."""
    try:
        data = tablib.Dataset().load(content if fmt == "xlsx" else content.decode("utf-8-sig"), format=fmt)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the person's to fix, said plainly
        return [], [f"The file cannot be read as {fmt.upper()}: {exc}"]
    headers = [str(h or "").strip().lower() for h in (data.headers or [])]
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        return [], [f"Columns missing: {', '.join(missing)} (the first row names the columns)."]
    if len(data) > MAX_ROWS:
        return [], [f"At most {MAX_ROWS} rows per file; this one has {len(data)}."]
    orders: dict[str, ImportedOrder] = {}
    for index, values in enumerate(data, start=2):
        row = {h: ("" if v is None else str(v).strip()) for h, v in zip(headers, values, strict=False)}
        ref = row.get("order_ref", "")
        order = orders.setdefault(ref, ImportedOrder(ref=ref))
        order.rows.append(index)
        if any(has_control_characters(v, single_line=True) for v in row.values()):
            order.error = f"Row {index}: remove the control characters."
        if not order.head:
            order.head = row
        quantity = row.get("quantity", "")
        order.lines.append({"sku": row.get("sku", "").upper(),
                            "quantity": int(float(quantity)) if quantity.replace(".", "", 1).isdigit() else quantity})
        if not ref:
            order.error = f"Row {index}: give the order_ref (rows with the same one are one order)."
    return list(orders.values()), []


def _place(order: ImportedOrder, *, actor) -> str:
    head = order.head
    address = {k: head.get(k, "") for k in ("name", "line1", "line2", "postal_code", "city", "region", "country")}
    content = json.dumps({"address": address, "email": head.get("email", ""), "lines": order.lines}, sort_keys=True)
    placed, _ = order_place(email=head.get("email", ""), phone=head.get("phone", ""), shipping_address=address,
                            lines=order.lines, actor=actor, idempotency_key=f"import:{order.ref}"[:255],
                            fingerprint=hashlib.sha256(content.encode()).hexdigest(), channel=Order.Channel.IMPORT)
    return placed.number


def _explain(order: ImportedOrder, err: DomainError) -> str:
    fields = err.extra.get("fields") or {}
    rows = []
    for key, problems in fields.items():
        where, line = "", line_field(key)
        if line is not None and line[0] < len(order.rows):
            where = f"row {order.rows[line[0]]}: "
        rows.append(f"{where}{key.split('.', 1)[-1]}: {' '.join(str(p) for p in problems)}")
    return err.message + (" — " + "; ".join(rows) if rows else "")


def preview_orders(orders: list[ImportedOrder], *, actor) -> list[ImportedOrder]:
    """Place every order and roll back: what would happen, order by order, with nothing written."""
    for order in orders:
        if order.error:
            continue
        try:
            with transaction.atomic():
                order.number = _place(order, actor=actor)
                raise Rollback
        except Rollback:
            pass
        except DomainError as err:
            order.error = _explain(order, err)
    return orders


@transaction.atomic
def import_orders(orders: list[ImportedOrder], *, actor) -> list[str]:
    """Place every order in one transaction: the first that fails rolls them all back (DomainError)."""
    numbers = []
    for order in orders:
        if order.error:
            raise DomainError(order.error)
        try:
            numbers.append(_place(order, actor=actor))
        except DomainError as err:
            raise DomainError(f"Order {order.ref}: {_explain(order, err)}") from None
    return numbers
