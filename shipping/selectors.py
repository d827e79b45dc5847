"""Reads for shipping: lists with their joins declared, what an order can still ship, overdue labels."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from inventory.models import StockLevel, Unit, Warehouse
from orders.models import Allocation, Order, OrderLine

from .errors import ShipmentNotFound, TrackingNumberNotFound
from .models import Shipment, ShipmentEvent, ShipmentLine, ShipmentUnit


def _is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff and user.has_perm("shipping.view_shipment"))


def shipment_list(*, user) -> QuerySet[Shipment]:
    """Shipments a user may see: all of them for staff with the view permission, otherwise their orders' own."""
    qs = Shipment.objects.select_related("order", "warehouse", "carrier")
    return qs if _is_staff(user) else qs.filter(order__customer=user)


def shipment_detail(*, pk: int, user) -> Shipment:
    """One shipment with lines and timeline, or ShipmentNotFound (also for another customer's shipment)."""
    qs = shipment_list(user=user).prefetch_related(
        Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line").order_by("id").prefetch_related(
            Prefetch("units", queryset=ShipmentUnit.objects.select_related("unit").order_by("id")))),
        Prefetch("events", queryset=ShipmentEvent.objects.order_by("occurred_at", "id")),
    )
    try:
        return qs.get(pk=pk)
    except (Shipment.DoesNotExist, ValueError, TypeError):
        raise ShipmentNotFound(f"No shipment {pk}.", id=pk) from None


def shipment_for_tracking(*, tracking_number: str) -> Shipment:
    """The public view of a parcel: status and carrier timeline only (the page shows no personal data)."""
    qs = Shipment.objects.select_related("carrier").prefetch_related(
        Prefetch("events", queryset=ShipmentEvent.objects.order_by("occurred_at", "id"))
    )
    number = (tracking_number or "").strip().upper()
    try:
        return qs.get(tracking_number=number)
    except Shipment.DoesNotExist:
        raise TrackingNumberNotFound("No parcel with this tracking number.") from None


def _unassigned(order_ids) -> dict[tuple[int, int, int], int]:
    """(order id, order line id, warehouse id) → units still reserved there and not in an open shipment."""
    reserved: dict[tuple[int, int, int], int] = defaultdict(int)
    for order_id, line_id, warehouse_id, qty in Allocation.objects.filter(
        order_id__in=order_ids, quantity__gt=0
    ).values_list("order_id", "line_id", "warehouse_id", "quantity"):
        reserved[(order_id, line_id, warehouse_id)] += qty
    in_open_shipments = (
        ShipmentLine.objects.filter(shipment__order_id__in=order_ids, shipment__status__in=Shipment.OPEN,
                                    shipment__direction=Shipment.Direction.OUTBOUND)
        .values("shipment__order_id", "order_line_id", "shipment__warehouse_id").annotate(total=Sum("quantity"))
    )
    for row in in_open_shipments:
        key = (row["shipment__order_id"], row["order_line_id"], row["shipment__warehouse_id"])
        reserved[key] = reserved.get(key, 0) - row["total"]
    return {key: qty for key, qty in reserved.items() if qty > 0}


def shippable_quantities(*, order_id: int) -> dict[tuple[int, int], int]:
    """(order line id, warehouse id) → units still reserved there and not yet in an open shipment."""
    return {(line_id, warehouse_id): qty for (_, line_id, warehouse_id), qty in _unassigned([order_id]).items()}


def overdue_hours() -> int:
    return settings.WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS


def shipment_overdue_q(now=None) -> Q:
    """Labels created more than WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS ago and never scanned by the carrier."""
    cutoff = (now or timezone.now()) - timedelta(hours=overdue_hours())
    # a return label waits for the customer to drop the parcel off: not a parcel we forgot
    return Q(status=Shipment.Status.LABEL_CREATED, label_created_at__lt=cutoff, last_scan_at__isnull=True,
             direction=Shipment.Direction.OUTBOUND)


def pick_list_rows(*, order_ids) -> list[dict]:
    """Units to pick for the orders, grouped by warehouse then SKU: [{warehouse, sku, name, quantity, orders}].

    What is to pick: the lines of shipments not picked yet, and reserved units not in any shipment so far.
    """
    order_ids = list(order_ids)
    rows: dict[tuple[str, str], dict] = {}
    pending = ShipmentLine.objects.filter(
        shipment__order_id__in=order_ids, shipment__status=Shipment.Status.PENDING
    ).select_related("shipment__warehouse", "shipment__order", "order_line")
    for sl in pending:
        _add_pick(rows, sl.shipment.warehouse, sl.order_line, sl.quantity, sl.shipment.order.number)
    unassigned = _unassigned(order_ids)
    if unassigned:
        lines = OrderLine.objects.select_related("order").in_bulk({line_id for _, line_id, _ in unassigned})
        warehouses = Warehouse.objects.in_bulk({wh for _, _, wh in unassigned})
        for (_, line_id, warehouse_id), qty in unassigned.items():
            line = lines[line_id]
            _add_pick(rows, warehouses[warehouse_id], line, qty, line.order.number)
    return _walk_bins(rows)


def wave_pick_rows(*, wave) -> list[dict]:
    """A wave's pick list: every unit of its parcels, walked by bin, with how many go to which order."""
    rows: dict = {}
    lines = (ShipmentLine.objects.filter(shipment__wave=wave).exclude(shipment__status=Shipment.Status.CANCELLED)
             .select_related("shipment__warehouse", "shipment__order", "order_line"))
    for sl in lines:
        _add_pick(rows, sl.shipment.warehouse, sl.order_line, sl.quantity, sl.shipment.order.number)
    return _walk_bins(rows)


# --- the fulfilment queue ------------------------------------------------------------------------------------

QUEUE_PAGE = 100
READY_TO_PICK = [Order.Status.CONFIRMED, Order.Status.PROCESSING, Order.Status.PARTIALLY_SHIPPED]


def _to_pick_q(warehouse_id: int):
    """Orders with units reserved at the warehouse (the partial index allocation_open_at_warehouse)."""
    return Exists(Allocation.objects.filter(order=OuterRef("pk"), warehouse_id=warehouse_id, quantity__gt=0))


def fulfilment_queue(*, warehouse_id: int) -> dict:
    """What a warehouse has to do, oldest first: orders to pick (units reserved there and in no parcel yet, or in
    a parcel not picked), parcels to pack and to label, and parcels that came back. Each list is one query,
    capped at QUEUE_PAGE; `counts` says how many there are in all."""
    in_parcel_at = ShipmentLine.objects.filter(
        shipment__order=OuterRef("pk"), shipment__warehouse_id=warehouse_id, shipment__status__in=Shipment.OPEN,
        shipment__direction=Shipment.Direction.OUTBOUND).values("shipment__order").annotate(
        n=Sum("quantity")).values("n")
    reserved_at = Allocation.objects.filter(order=OuterRef("pk"), warehouse_id=warehouse_id,
                                            quantity__gt=0).values("order").annotate(n=Sum("quantity")).values("n")
    to_pick = (Order.objects.filter(status__in=READY_TO_PICK).filter(_to_pick_q(warehouse_id))
               .annotate(reserved=Subquery(reserved_at), in_parcels=Subquery(in_parcel_at))
               .filter(Q(in_parcels__isnull=True) | Q(reserved__gt=F("in_parcels")))
               # replacements first (a customer is waiting with a faulty item), then the oldest
               .order_by(F("replaces_id").asc(nulls_last=True), "placed_at", "pk"))
    parcels = (Shipment.objects.filter(warehouse_id=warehouse_id, direction=Shipment.Direction.OUTBOUND)
               .select_related("order", "carrier").prefetch_related(
                   Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line")))
               .order_by("created_at", "pk"))
    to_pack = parcels.filter(status__in=[Shipment.Status.PENDING, Shipment.Status.PICKED])
    to_send = parcels.filter(status__in=[Shipment.Status.PACKED, Shipment.Status.LABEL_CREATED])
    came_back = (Order.objects.filter(status=Order.Status.RETURNED, shipments__warehouse_id=warehouse_id,
                                      shipments__status=Shipment.Status.RETURNED).distinct().order_by("updated_at"))
    counts = {
        "to_pick": to_pick.count(), "to_pack": to_pack.count(), "to_send": to_send.count(),
        "came_back": came_back.count(),
    }
    return {"to_pick": list(to_pick[:QUEUE_PAGE]), "to_pack": list(to_pack[:QUEUE_PAGE]),
            "to_send": list(to_send[:QUEUE_PAGE]), "came_back": list(came_back[:QUEUE_PAGE]), "counts": counts}


def fulfilment_counts() -> dict[int, int]:
    """Warehouse id → orders with units reserved there (the queue's tabs), in one query."""
    return dict(Allocation.objects.filter(quantity__gt=0, order__status__in=READY_TO_PICK)
                .values("warehouse_id").annotate(n=Count("order", distinct=True)).values_list("warehouse_id", "n"))


def _add_pick(rows, warehouse, line, quantity, order_number) -> None:
    row = rows.setdefault((warehouse.code, line.product_id), {
        "warehouse": warehouse, "sku": line.sku, "name": line.name, "quantity": 0, "orders": [], "per_order": {},
        "product_id": line.product_id,
    })
    row["quantity"] += quantity
    row["per_order"][order_number] = row["per_order"].get(order_number, 0) + quantity
    if order_number not in row["orders"]:
        row["orders"].append(order_number)


def _walk_bins(rows: dict) -> list[dict]:
    """The rows in the order a picker walks them: per warehouse, by bin location (natural order: A-2 before
    A-10), unbinned last, then SKU. Bins come from the stock levels in one query."""
    keys = {(row["product_id"], row["warehouse"].pk) for row in rows.values()}
    bins = {(p, w): b for p, w, b in StockLevel.objects.filter(
        product_id__in={p for p, _ in keys}, warehouse_id__in={w for _, w in keys}).values_list(
        "product_id", "warehouse_id", "bin")}
    for row in rows.values():
        row["bin"] = bins.get((row["product_id"], row["warehouse"].pk), "")
    return sorted(rows.values(), key=lambda r: (r["warehouse"].code, not r["bin"], _natural(r["bin"]), r["sku"]))


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part.upper() for part in re.split(r"(\d+)", text)]


def packing_slip_shipments(*, order_ids) -> QuerySet[Shipment]:
    return (
        Shipment.objects.filter(order_id__in=order_ids, direction=Shipment.Direction.OUTBOUND)
        .exclude(status=Shipment.Status.CANCELLED)
        .select_related("order", "warehouse", "carrier")
        .prefetch_related(Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line")))
        .order_by("order_id", "id")
    )


def delivered_lines(*, order_id: int) -> dict[int, tuple[int, datetime | None]]:
    """Order line id → (units delivered in outbound parcels, when the last of them was delivered)."""
    rows = (ShipmentLine.objects.filter(shipment__order_id=order_id, shipment__status=Shipment.Status.DELIVERED,
                                        shipment__direction=Shipment.Direction.OUTBOUND)
            .values("order_line_id").annotate(total=Sum("quantity"), last=Max("shipment__delivered_at")))
    return {row["order_line_id"]: (row["total"], row["last"]) for row in rows}


def order_ids_for_identifier(upper: str) -> list[int]:
    """Orders a tracking number or a packed unit's serial names exactly (orders.selectors.order_search)."""
    ids = list(Shipment.objects.filter(tracking_number=upper).values_list("order_id", flat=True))
    serial = upper.replace(" ", "")
    units = Unit.objects.filter(serial=serial).values("pk")
    ids += ShipmentUnit.objects.filter(unit__in=units).values_list("shipment__order_id", flat=True)
    return ids
