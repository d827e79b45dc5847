"""Every change of stock goes through here and leaves a StockMovement in the ledger.

Locking: stock levels are locked with SELECT ... FOR UPDATE in primary-key order, in one statement per
service call, so two services never wait on each other in opposite orders. The CheckConstraints on
StockLevel (0 <= allocated <= on_hand) are the last line of defence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from ..errors import InsufficientStock, InvalidQuantity, OutOfStock
from ..models import LowStockAlert, Product, StockLevel, StockMovement, Warehouse
from ..signals import low_stock_alerts_raised

Kind = StockMovement.Kind


@dataclass(frozen=True)
class AllocationPlan:
    """Units of one product reserved at one warehouse for a caller (an order line)."""

    product: Product
    warehouse: Warehouse
    quantity: int
    level_id: int | None = None  # the stock level it takes from, when the plan was made from levels read (stock_plan)


def _reference_fields(reference) -> dict:
    if reference is None:
        return {}
    label = getattr(reference, "reference_label", None) or str(reference)
    return {
        "reference_type": ContentType.objects.get_for_model(reference),
        "reference_id": reference.pk,
        "reference_label": label[:64],
    }


def _positive(quantity: int, field: str = "quantity") -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise InvalidQuantity(f"{field} must be a whole number above zero.", field=field, value=quantity)
    return quantity


def _lock_levels(pairs: Iterable[tuple[int, int]], *, create: bool = False) -> dict[tuple[int, int], StockLevel]:
    """Lock the stock levels of (product_id, warehouse_id) pairs in primary-key order."""
    pairs = set(pairs)
    if create:
        StockLevel.objects.bulk_create(
            [StockLevel(product_id=p, warehouse_id=w) for p, w in pairs], ignore_conflicts=True
        )
    condition = Q()
    for product_id, warehouse_id in pairs:
        condition |= Q(product_id=product_id, warehouse_id=warehouse_id)
    levels = StockLevel.objects.select_for_update().filter(condition).order_by("pk")
    return {(level.product_id, level.warehouse_id): level for level in levels}


def _record(levels: Sequence[StockLevel], movements: Sequence[StockMovement]) -> None:
    """Write the movements and apply them to the levels the caller holds locked: two statements (none when a
    backorder got nothing)."""
    if not movements:
        return
    now = timezone.now()
    for level in levels:
        level.updated_at = now  # neither statement below runs auto_now
    _write_levels(levels, movements)
    StockMovement.objects.bulk_create(movements)


def _write_levels(levels: Sequence[StockLevel], movements: Sequence[StockMovement]) -> None:
    """Add the movements' deltas to their levels' on_hand and allocated, in one UPDATE.

    On PostgreSQL this is UPDATE ... SET on_hand = on_hand + v.delta ... FROM (VALUES ...): the level changes by
    exactly what the ledger records, and it costs a fraction of the Python time of bulk_update()'s CASE
    expressions on the hot path of every order. Elsewhere bulk_update() writes the values the caller computed
    (from the same rows, locked). Either way the CheckConstraints refuse anything below zero or over on hand.
    """
    levels = list({level.pk: level for level in levels}.values())
    if connection.vendor != "postgresql":
        StockLevel.objects.bulk_update(levels, ["on_hand", "allocated", "updated_at"])
        return
    deltas: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for movement in movements:
        delta = deltas[(movement.product_id, movement.warehouse_id)]
        delta[0] += movement.on_hand_delta
        delta[1] += movement.allocated_delta
    qn = connection.ops.quote_name
    table, on_hand, allocated = qn(StockLevel._meta.db_table), qn("on_hand"), qn("allocated")
    rows = ", ".join(["(%s::bigint, %s::integer, %s::integer, %s::timestamptz)"] * len(levels))
    params = []
    for level in levels:
        on_hand_delta, allocated_delta = deltas[(level.product_id, level.warehouse_id)]
        params += [level.pk, on_hand_delta, allocated_delta, level.updated_at]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {on_hand} = {table}.{on_hand} + v.on_hand_delta, "
            f"{allocated} = {table}.{allocated} + v.allocated_delta, {qn('updated_at')} = v.updated_at "
            f"FROM (VALUES {rows}) AS v(id, on_hand_delta, allocated_delta, updated_at) "
            f"WHERE {table}.{qn('id')} = v.id",
            params,
        )


def _available_by_product(product_ids: Iterable[int]) -> dict[int, int]:
    rows = (
        StockLevel.objects.filter(product_id__in=set(product_ids), warehouse__active=True)
        .values("product_id")
        .annotate(on_hand=Sum("on_hand"), allocated=Sum("allocated"))
    )
    available = {row["product_id"]: row["on_hand"] - row["allocated"] for row in rows}
    return {pid: available.get(pid, 0) for pid in product_ids}


def low_stock_check(
    *, products: Iterable[Product], available: dict[int, int] | None = None, resolve: bool = True
) -> list[LowStockAlert]:
    """Raise an alert for each product at or below its threshold; resolve open alerts for those above.

    `available` may carry totals the caller already knows (from rows it holds locked); otherwise they are read.
    `resolve=False` skips resolving, for callers that only ever lower stock. Returns the alerts raised now.
    """
    products = {p.pk: p for p in products}
    if available is None:
        available = _available_by_product(products)
    low = {pid for pid, p in products.items() if available[pid] <= p.low_stock_threshold}
    high = set(products) - low
    if high and resolve:
        LowStockAlert.objects.filter(product_id__in=high, resolved_at__isnull=True).update(resolved_at=timezone.now())
    if not low:
        return []
    already_open = set(
        LowStockAlert.objects.filter(product_id__in=low, resolved_at__isnull=True).values_list("product_id", flat=True)
    )
    new = [
        LowStockAlert(product=products[pid], available=available[pid], threshold=products[pid].low_stock_threshold)
        for pid in sorted(low - already_open)
    ]
    new = _open_alerts(new) if new else []
    if new:
        low_stock_alerts_raised.send(sender=LowStockAlert, alerts=new)
    return new


def _open_alerts(alerts: list[LowStockAlert]) -> list[LowStockAlert]:
    """Insert alerts unless one is already open for the product (opened by a concurrent transaction, say).

    INSERT ... ON CONFLICT (product) WHERE open DO NOTHING RETURNING: exactly the alerts opened now, with their
    ids (bulk_create with ignore_conflicts returns neither).
    """
    qn = connection.ops.quote_name
    created_at = timezone.now()
    now = connection.ops.adapt_datetimefield_value(created_at)
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(alerts))
    params = [value for a in alerts for value in (a.product_id, a.available, a.threshold, now)]
    sql = (
        f"INSERT INTO {qn(LowStockAlert._meta.db_table)} ({qn('product_id')}, {qn('available')}, {qn('threshold')}, "
        f"{qn('created_at')}) VALUES {rows} ON CONFLICT ({qn('product_id')}) WHERE {qn('resolved_at')} IS NULL "
        f"DO NOTHING RETURNING {qn('id')}, {qn('product_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        opened = dict((product_id, pk) for pk, product_id in cursor.fetchall())
    for alert in alerts:
        alert.pk, alert.created_at = opened.get(alert.product_id), created_at
    return [alert for alert in alerts if alert.pk]


@transaction.atomic
def stock_receive(
    *, product: Product, warehouse: Warehouse, quantity: int, actor=None, reason: str = "", reference=None
) -> StockLevel:
    """Goods arrived at a warehouse: on_hand grows."""
    _positive(quantity)
    level = _lock_levels([(product.pk, warehouse.pk)], create=True)[(product.pk, warehouse.pk)]
    level.on_hand += quantity
    movement = StockMovement(
        kind=Kind.RECEIPT, product=product, warehouse=warehouse, quantity=quantity, on_hand_delta=quantity,
        reason=reason, actor=actor, **_reference_fields(reference),
    )
    _record([level], [movement])
    low_stock_check(products=[product])
    return level


@transaction.atomic
def stock_adjust(
    *, product: Product, warehouse: Warehouse, delta: int, reason: str, actor=None, write_off: bool = False,
    reference=None,
) -> StockLevel:
    """Correct on_hand after a count (delta of either sign), or write units off (delta < 0, `write_off`).

    A reason is required: the ledger must say why stock changed. Allocated units cannot be adjusted away.
    """
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise InvalidQuantity("delta must be a whole number other than zero.", field="delta", value=delta)
    if write_off and delta > 0:
        raise InvalidQuantity("A write-off removes stock: delta must be negative.", field="delta", value=delta)
    if not (reason or "").strip():
        raise InvalidQuantity("Say why the stock changes: a reason is required.", field="reason")
    level = _lock_levels([(product.pk, warehouse.pk)], create=delta > 0).get((product.pk, warehouse.pk))
    if level is None or level.on_hand + delta < level.allocated:
        free = level.available if level else 0
        raise InsufficientStock(
            f"Only {free} unallocated unit(s) of {product.sku} at {warehouse.code}; cannot remove {-delta}.",
            sku=product.sku, warehouse=warehouse.code, available=free,
        )
    level.on_hand += delta
    movement = StockMovement(
        kind=Kind.WRITE_OFF if write_off else Kind.ADJUSTMENT, product=product, warehouse=warehouse,
        quantity=abs(delta), on_hand_delta=delta, reason=reason.strip(), actor=actor, **_reference_fields(reference),
    )
    _record([level], [movement])
    low_stock_check(products=[product])
    return level


@transaction.atomic
def stock_transfer(
    *, product: Product, source: Warehouse, destination: Warehouse, quantity: int, actor=None, reason: str = ""
) -> tuple[StockLevel, StockLevel]:
    """Move unallocated units between warehouses: two transfer movements, one out and one in."""
    _positive(quantity)
    if source.pk == destination.pk:
        raise InvalidQuantity("Source and destination warehouses must differ.", field="destination")
    levels = _lock_levels([(product.pk, source.pk), (product.pk, destination.pk)], create=True)
    out, into = levels[(product.pk, source.pk)], levels[(product.pk, destination.pk)]
    if out.available < quantity:
        raise InsufficientStock(
            f"Only {out.available} unallocated unit(s) of {product.sku} at {source.code}.",
            sku=product.sku, warehouse=source.code, available=out.available,
        )
    out.on_hand -= quantity
    into.on_hand += quantity
    label = f"transfer {source.code}→{destination.code}"
    common = {"kind": Kind.TRANSFER, "product": product, "quantity": quantity, "actor": actor,
              "reason": reason or label, "reference_label": label}
    movements = [
        StockMovement(warehouse=source, on_hand_delta=-quantity, **common),
        StockMovement(warehouse=destination, on_hand_delta=quantity, **common),
    ]
    _record([out, into], movements)
    low_stock_check(products=[product])
    return out, into


def _plan(requests: Sequence[tuple[Product, int]], levels: Sequence[StockLevel],
          short_ok: Collection[int] = ()) -> list[AllocationPlan]:
    """Choose warehouses: the first (by priority) that can supply everything, else each line on its own.

    A line no single warehouse can supply is split across warehouses in priority order. A product in `short_ok`
    (sold on backorder) takes what there is when there is not enough; the rest is the caller's to record.
    """
    by_product: dict[int, list[StockLevel]] = defaultdict(list)
    warehouses: dict[int, Warehouse] = {}
    for level in levels:
        by_product[level.product_id].append(level)
        warehouses[level.warehouse_id] = level.warehouse
    free = {(lv.product_id, lv.warehouse_id): lv.available for lv in levels}
    ranked = sorted(warehouses.values(), key=lambda w: (w.priority, w.code))

    for warehouse in ranked:
        if all(free.get((p.pk, warehouse.pk), 0) >= qty for p, qty in requests):
            return [AllocationPlan(p, warehouse, qty) for p, qty in requests]

    plans: list[AllocationPlan] = []
    shortages = []
    for product, qty in requests:
        candidates = [w for w in ranked if free.get((product.pk, w.pk), 0) > 0]
        whole = next((w for w in candidates if free[(product.pk, w.pk)] >= qty), None)
        if whole is not None:
            plans.append(AllocationPlan(product, whole, qty))
            continue
        total = sum(free[(product.pk, w.pk)] for w in candidates)
        if total < qty and product.pk not in short_ok:
            shortages.append({"sku": product.sku, "requested": qty, "available": total})
            continue
        remaining = min(qty, total)
        if not remaining:
            continue
        for w in candidates:
            take = min(remaining, free[(product.pk, w.pk)])
            plans.append(AllocationPlan(product, w, take))
            remaining -= take
            if not remaining:
                break
    if shortages:
        first = shortages[0]
        raise OutOfStock(
            f"Not enough stock for {first['sku']}: {first['requested']} requested, {first['available']} available.",
            sku=first["sku"], requested=first["requested"], available=first["available"], lines=shortages,
        )
    return plans


def stock_allocate(*, requests: Sequence[tuple[Product, int]], actor=None, reference=None,
                   short_ok: Collection[int] = ()) -> list[AllocationPlan]:
    """Reserve stock for (product, quantity) requests, all or nothing. Call inside the caller's transaction.

    Products in `short_ok` (ids of products sold on backorder) may get less than requested, even nothing: the
    plans say what was reserved. One locking SELECT for all levels of the requested products, one UPDATE, one
    INSERT of movements: the number of queries does not depend on the number of lines.
    """
    for _, qty in requests:
        _positive(qty)
    product_ids = [p.pk for p, _ in requests]
    levels = list(
        StockLevel.objects.select_for_update(of=("self",))
        .select_related("warehouse")
        .filter(product_id__in=product_ids, warehouse__active=True)
        .order_by("pk")
    )
    plans = _plan(requests, levels, short_ok)
    by_key = {(lv.product_id, lv.warehouse_id): lv for lv in levels}
    changed, movements = [], []
    ref = _reference_fields(reference)
    for plan in plans:
        level = by_key[(plan.product.pk, plan.warehouse.pk)]
        level.allocated += plan.quantity
        changed.append(level)
        movements.append(StockMovement(
            kind=Kind.ALLOCATION, product=plan.product, warehouse=plan.warehouse, quantity=plan.quantity,
            allocated_delta=plan.quantity, actor=actor, **ref,
        ))
    _record(changed, movements)
    available: dict[int, int] = defaultdict(int)
    for level in levels:
        available[level.product_id] += level.available
    low_stock_check(products=[p for p, _ in requests], available=available, resolve=False)
    return plans


def _settle(
    items: Sequence[tuple[int, int, int]], *, kind: str, actor, reason: str, reference, on_hand_sign: int
) -> None:
    """Release (on_hand_sign 0) or ship (on_hand_sign -1) allocated units: items are (product, warehouse, qty)."""
    if not items:
        return
    levels = _lock_levels({(p, w) for p, w, _ in items})
    ref = _reference_fields(reference)
    movements = []
    for product_id, warehouse_id, qty in items:
        _positive(qty)
        level = levels[(product_id, warehouse_id)]
        level.allocated -= qty
        level.on_hand += on_hand_sign * qty
        movements.append(StockMovement(
            kind=kind, product_id=product_id, warehouse_id=warehouse_id, quantity=qty,
            allocated_delta=-qty, on_hand_delta=on_hand_sign * qty, actor=actor, reason=reason, **ref,
        ))
    _record(list(levels.values()), movements)
    if kind == Kind.RELEASE:
        low_stock_check(products=Product.objects.filter(pk__in={p for p, _, _ in items}))


def stock_release(*, items: Sequence[tuple[int, int, int]], actor=None, reason: str = "", reference=None) -> None:
    """Give back allocated units (cancellation). Call inside the caller's transaction."""
    _settle(items, kind=Kind.RELEASE, actor=actor, reason=reason, reference=reference, on_hand_sign=0)


def stock_ship(*, items: Sequence[tuple[int, int, int]], actor=None, reason: str = "", reference=None) -> None:
    """Allocated units leave the warehouse: on_hand and allocated both fall. Call inside a transaction."""
    _settle(items, kind=Kind.SHIPMENT, actor=actor, reason=reason, reference=reference, on_hand_sign=-1)


@transaction.atomic
def stock_return(*, items: Sequence[tuple[int, int, int]], actor=None, reason: str = "", reference=None) -> None:
    """Units that had left come back into stock: a parcel returned to sender, a customer's return restocked after
    inspection. Items are (product id, warehouse id, quantity); on_hand grows by return-to-stock movements."""
    if not items:
        return
    levels = _lock_levels({(p, w) for p, w, _ in items}, create=True)
    ref = _reference_fields(reference)
    movements = []
    for product_id, warehouse_id, qty in items:
        _positive(qty)
        levels[(product_id, warehouse_id)].on_hand += qty
        movements.append(StockMovement(
            kind=Kind.RETURN_TO_STOCK, product_id=product_id, warehouse_id=warehouse_id, quantity=qty,
            on_hand_delta=qty, actor=actor, reason=reason[:255], **ref,
        ))
    _record(list(levels.values()), movements)
    low_stock_check(products=Product.objects.filter(pk__in={p for p, _, _ in items}))


def stock_level_set_bin(*, stock_level: StockLevel | int, bin: str) -> None:  # noqa: A002 - the business word
    """Where a product sits in a warehouse. Only the bin is written: the quantities of the row are the ledger's,
    and a form showing them must never write back what it read."""
    pk = getattr(stock_level, "pk", stock_level)
    value = " ".join((bin or "").split()).upper()
    field = StockLevel._meta.get_field("bin")
    try:
        field.run_validators(value) if value else None
        if len(value) > field.max_length:
            raise ValidationError(f"At most {field.max_length} characters.")
    except ValidationError as exc:
        raise InvalidQuantity(f"A bin is letters and digits like A-03-2: {' '.join(exc.messages)}",
                              fields={"bin": exc.messages}) from None
    StockLevel.objects.filter(pk=pk).update(bin=value, updated_at=timezone.now())


def stock_plan(*, requests: Sequence[tuple[Product, int]], levels: Sequence,
               short_ok: Collection[int] = ()) -> list[AllocationPlan]:
    """Choose warehouses for (product, quantity) requests from stock levels the caller read without a lock
    (inventory.selectors.product_offers), reserving nothing: the plans stock_take then reserves. Raises
    OutOfStock when those levels cannot supply it."""
    for _, qty in requests:
        _positive(qty)
    level_ids = {(lv.product_id, lv.warehouse_id): lv.pk for lv in levels}
    return [replace(plan, level_id=level_ids[(plan.product.pk, plan.warehouse.pk)])
            for plan in _plan(requests, levels, short_ok)]


def stock_take(*, plans: Sequence[AllocationPlan], actor=None, reference=None) -> bool:
    """Reserve exactly `plans` (from stock_plan), all or nothing, in one statement (PostgreSQL): lock the levels of
    their products at active warehouses in primary-key order, check that each planned level still has what its
    plan takes, add the plans to `allocated` and write their ledger movements.

    Returns False when a level no longer has it (another order took the stock since it was read): then nothing
    was reserved, the levels stay locked, and the caller asks stock_allocate, which chooses again from the locked
    rows. Call inside the caller's transaction.
    """
    from config import cte

    if not plans:
        return True
    ids = [plan.level_id for plan in plans]
    if None in ids:
        raise ValueError("stock_take() takes the plans of stock_plan()")
    ref = _reference_fields(reference)
    if ref:
        ref["reference_type_id"] = ref.pop("reference_type").pk
    now = timezone.now()
    actor_id = actor.pk if actor is not None else None
    # the ledger's rows are only written, never read back: as values, no instance built
    movements = [{"kind": Kind.ALLOCATION.value, "product_id": plan.product.pk, "warehouse_id": plan.warehouse.pk,
                  "quantity": plan.quantity, "allocated_delta": plan.quantity, "actor_id": actor_id, **ref}
                 for plan in plans]
    qn = connection.ops.quote_name
    level_table, warehouse_table = qn(StockLevel._meta.db_table), qn(Warehouse._meta.db_table)
    product_ids = sorted({plan.product.pk for plan in plans})
    prefix = (
        "want(id, quantity) AS (SELECT * FROM unnest(%s::bigint[], %s::integer[])), "
        # every level of these products, locked in primary-key order (as stock_allocate locks them: should this
        # come to nothing, stock_allocate then waits for no other lock)
        f"locked AS MATERIALIZED (SELECT l.id, l.product_id, l.on_hand - l.allocated AS free FROM {level_table} l "
        f"JOIN {warehouse_table} w ON w.id = l.warehouse_id AND w.active WHERE l.product_id = ANY(%s::bigint[]) "
        "ORDER BY l.id FOR UPDATE OF l), "
        "ok AS MATERIALIZED (SELECT count(*) = %s AS ok FROM locked JOIN want ON want.id = locked.id "
        "WHERE locked.free >= want.quantity), "
        f"taken AS (UPDATE {level_table} l SET {qn('allocated')} = l.{qn('allocated')} + want.quantity, "
        f"{qn('updated_at')} = %s FROM want WHERE l.id = want.id AND (SELECT ok FROM ok) RETURNING l.id), "
        "available AS MATERIALIZED (SELECT locked.product_id, sum(locked.free - coalesce(want.quantity, 0)) AS n "
        "FROM locked LEFT JOIN want ON want.id = locked.id GROUP BY locked.product_id)"
    )
    moved = cte.Rows("moved", StockMovement, values=movements, where="(SELECT ok FROM ok)")
    _, (ok, available_ids, available) = cte.insert_together(
        moved,
        prefix=(prefix, [ids, [plan.quantity for plan in plans], product_ids, len(plans), now]),
        select=("(SELECT ok FROM ok), (SELECT array_agg(product_id ORDER BY product_id) FROM available), "
                "(SELECT array_agg(n ORDER BY product_id) FROM available)", []),
    )
    if not ok:
        return False
    products = {plan.product.pk: plan.product for plan in plans}
    low_stock_check(products=products.values(), available=dict(zip(available_ids, available, strict=True)),
                    resolve=False)
    return True
