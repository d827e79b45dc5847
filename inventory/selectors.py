import functools
import json
import re

from django.db.models import F, QuerySet

from .models import LowStockAlert, Product, StockLevel, StockMovement, UnitEvent, Warehouse, serial_text


def product_list(*, active_only: bool = False) -> QuerySet[Product]:
    qs = Product.objects.all()
    return qs.filter(active=True) if active_only else qs


def stock_level_list() -> QuerySet[StockLevel]:
    return StockLevel.objects.select_related("product", "warehouse").annotate(
        available_units=F("on_hand") - F("allocated")
    )


def stock_movement_list() -> QuerySet[StockMovement]:
    return StockMovement.objects.select_related("product", "warehouse", "actor", "reference_type")


def warehouse_list() -> QuerySet[Warehouse]:
    return Warehouse.objects.all()


def low_stock_alert_list(*, open_only: bool = True) -> QuerySet[LowStockAlert]:
    qs = LowStockAlert.objects.select_related("product")
    return qs.filter(resolved_at__isnull=True) if open_only else qs


def ledger_totals() -> dict[tuple[int, int], tuple[int, int]]:
    """(product_id, warehouse_id) → (sum of on_hand deltas, sum of allocated deltas): the ledger's view."""
    from django.db.models import Sum

    rows = StockMovement.objects.values("product_id", "warehouse_id").annotate(
        on_hand=Sum("on_hand_delta"), allocated=Sum("allocated_delta")
    )
    return {(r["product_id"], r["warehouse_id"]): (r["on_hand"], r["allocated"]) for r in rows}


def serial_lookup_value(serial: str) -> str | None:
    """A looked-up serial as stored, or None for text no serial can be (control characters, other scripts)."""
    normalized = serial_text(serial)
    return normalized if re.fullmatch(r"[A-Z0-9./-]{1,64}", normalized) else None


def unit_history(*, serial: str) -> QuerySet[UnitEvent]:
    """Every step of the units with this serial (one per product that has it), oldest first: one query."""
    qs = UnitEvent.objects.select_related("unit__product", "warehouse", "actor").order_by("unit_id", "created_at",
                                                                                           "id")
    normalized = serial_lookup_value(serial)
    return qs.filter(unit__serial=normalized) if normalized else qs.none()


def _columns(alias: str, model, only: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    from django.db import connection

    qn = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not only or f.attname in only]
    return ", ".join(f"{alias}.{qn(f.column)}" for f in fields), [f.attname for f in fields]


@functools.cache
def _offers_sql() -> tuple[str, list[str], list[str], list[str]]:
    """Built once per process: the products by SKU, each with its stock levels at active warehouses."""
    from django.db import connection

    qn = connection.ops.quote_name
    # the products without their timestamps (nothing placing an order reads them; parsing two per product was a
    # twentieth of the placement's Python): loaded as deferred fields
    p_cols, p_names = _columns("p", Product, only=tuple(
        f.attname for f in Product._meta.concrete_fields if f.attname not in ("created_at", "updated_at")))
    l_cols, l_names = _columns("l", StockLevel, only=LEVEL_READ)  # what a LevelRead holds: no timestamp to parse
    w_cols, w_names = _columns("w", Warehouse)
    # The SKUs come as a JSON array, each looked up by its index, and each product's levels by theirs (LATERAL ...
    # OFFSET 0 keeps those lookups as they are written). PostgreSQL cannot see how many elements a JSON array has
    # (it assumes 100, whatever the values), so its plan is the same whether it is made for an order's SKUs or once
    # for every order (a generic plan of a join on `sku = ANY(%s)` read every stock level). Ordered by product, then
    # level (columns 1 and the first of the levels).
    sql = (f"SELECT p.*, lw.* FROM json_array_elements_text(%s::json) AS s(sku) "
           f"JOIN LATERAL (SELECT {p_cols} FROM {qn(Product._meta.db_table)} p WHERE p.{qn('sku')} = s.sku "
           f"OFFSET 0) AS p ON true "
           f"LEFT JOIN LATERAL (SELECT {l_cols}, {w_cols} FROM {qn(StockLevel._meta.db_table)} l "
           f"JOIN {qn(Warehouse._meta.db_table)} w ON w.{qn('id')} = l.{qn('warehouse_id')} AND w.{qn('active')} "
           f"WHERE l.{qn('product_id')} = p.{qn('id')} OFFSET 0) AS lw ON true ORDER BY 1, {len(p_names) + 1}")
    return sql, p_names, l_names, w_names


LEVEL_READ = ("id", "product_id", "warehouse_id", "on_hand", "allocated")


class LevelRead:
    """A stock level as read without a lock: what choosing warehouses needs (inventory.services.stock_plan)."""

    __slots__ = ("pk", "product_id", "warehouse_id", "on_hand", "allocated", "warehouse")

    def __init__(self, pk, product_id, warehouse_id, on_hand, allocated, warehouse):
        self.pk, self.product_id, self.warehouse_id = pk, product_id, warehouse_id
        self.on_hand, self.allocated, self.warehouse = on_hand, allocated, warehouse

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated


def product_offers(*, skus: list[str], also=None, generic_plans: bool = False
                   ) -> tuple[dict[str, Product], list[LevelRead], list[tuple]]:
    """The products with these SKUs and their stock levels at active warehouses (LevelRead, each with its
    `warehouse`), read without locking: what an order is priced from and its warehouses first chosen by. One
    query on PostgreSQL.

    `also` (a config.cte.Rows, PostgreSQL only) is written in the same statement, before the read; its rows
    written are returned third. `generic_plans`: the statement also sets the rest of its transaction to run prepared
    statements on their generic plans (config.db.GENERIC_PLANS), for a caller whose next statements are the same
    every time (the order placement).
    """
    from django.db import connection

    from config import cte
    from config.db import GENERIC_PLANS

    if not cte.supported():
        if also is not None:
            raise ValueError("product_offers(also=...) needs PostgreSQL")
        products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
        levels = [LevelRead(lv.pk, lv.product_id, lv.warehouse_id, lv.on_hand, lv.allocated, lv.warehouse)
                  for lv in StockLevel.objects.filter(product__in=products.values(), warehouse__active=True)
                  .select_related("warehouse").order_by("pk")]
        return products, levels, []
    sql, p_names, l_names, w_names = _offers_sql()
    params: list = [json.dumps(list(dict.fromkeys(skus)))]  # each SKU once
    first = ([also.select()] if also is not None else []) + ([GENERIC_PLANS] if generic_plans else [])
    if first:  # the columns evaluated once, in a first row that is there even when no SKU is known
        sql = (("" if also is None else f"WITH {also.cte()} ") + f"SELECT {', '.join(first)}, s.* "
               f"FROM (SELECT 1) AS one LEFT JOIN ({sql}) AS s ON true")
        params = [*(also.params if also is not None else ()), *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    written = []
    if also is not None:
        written = also.written(rows[0][:len(also.returning)])
    if first:
        width = (len(also.returning) if also is not None else 0) + bool(generic_plans)  # the first columns' values
        rows = [row[width:] for row in rows if row[width] is not None]
    products: dict[str, Product] = {}
    levels: list[LevelRead] = []
    warehouses: dict[int, Warehouse] = {}
    n_p, n_l = len(p_names), len(l_names)
    db, sku_at = connection.alias, p_names.index("sku")
    at = [n_p + l_names.index(name) for name in ("id", "product_id", "warehouse_id", "on_hand", "allocated")]
    for row in rows:
        product = products.get(row[sku_at])
        if product is None:
            product = Product.from_db(db, p_names, row[:n_p])
            products[product.sku] = product
        if row[n_p] is None:
            continue
        warehouse_id = row[n_p + n_l]
        warehouse = warehouses.get(warehouse_id)
        if warehouse is None:
            warehouse = warehouses[warehouse_id] = Warehouse.from_db(db, w_names, row[n_p + n_l:])
        levels.append(LevelRead(*[row[i] for i in at], warehouse))
    return products, levels, written
