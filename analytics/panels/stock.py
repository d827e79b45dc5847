"""Stock: what it is worth per warehouse (at today's prices), how many days it lasts at the recent rate of sales,
what to reorder, and what does not sell.

Demand is the units sold per day over the chosen period (cancelled orders left out; days without a sale count as
zero). Reorder point = demand over the lead time + safety stock, where the lead time is the product's restock days
(the supplier's lead time; WAYBILL_BACKORDER_DAYS when empty) and safety stock = z × σ(daily demand) × √lead time.
A suggestion covers the reorder point plus demand until the next supplier order (WAYBILL_ANALYTICS_REVIEW_DAYS)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from inventory.models import Product, StockLevel, Warehouse

from ..db import rows
from ..facts import ProductDay, SalesDay
from .base import Chart, Column, Context, Figure, Panel, Table, money
from .common import unfiltered

P, S, W, SD = (Product._meta.db_table, StockLevel._meta.db_table, Warehouse._meta.db_table,
               SalesDay._meta.db_table)
SLOW_DAYS = 180
LIST = 25

WAREHOUSES_SQL = f"""
SELECT w.id, w.code, w.name, GROUPING(w.id) = 1 AS total, coalesce(sum(s.on_hand), 0) AS on_hand,
       coalesce(sum(s.allocated), 0) AS allocated, coalesce(sum(s.on_hand * p.price), 0) AS value,
       count(*) FILTER (WHERE s.on_hand > 0) AS skus
FROM {S} s JOIN {P} p ON p.id = s.product_id JOIN {W} w ON w.id = s.warehouse_id
WHERE %(warehouse)s::bigint IS NULL OR s.warehouse_id = %(warehouse)s
GROUP BY GROUPING SETS ((w.id, w.code, w.name, w.priority), ())
ORDER BY GROUPING(w.id) DESC, w.priority, w.code
"""

# Per product: stock, demand over the period (mean and standard deviation per day, zero days included), and from
# them cover, reorder point and suggestion; then the rows of the three lists, ranked in SQL.
_DAILY = f"""
    SELECT x.product_id, x.day, sum(x.units - x.cancelled_units) AS units
    FROM {SD} x
    WHERE x.day BETWEEN least(%(start)s, %(dead_start)s) AND %(end)s AND x.channel = ANY(%(channels)s)
      AND x.warehouses LIKE %(warehouse_like)s
    GROUP BY x.product_id, x.day"""
_DAILY_UNFILTERED = f"""
    SELECT x.product_id, x.day, x.units - x.cancelled_units AS units
    FROM {ProductDay._meta.db_table} x WHERE x.day BETWEEN least(%(start)s, %(dead_start)s) AND %(end)s"""
PRODUCTS_SQL = f"""
WITH daily AS ({{daily}}),
demand AS (
    SELECT product_id, sum(units) FILTER (WHERE day >= %(start)s) AS units,
           sum(units * units) FILTER (WHERE day >= %(start)s) AS squares,
           sum(units) FILTER (WHERE day >= %(dead_start)s) AS recent
    FROM daily GROUP BY product_id),
stock AS (
    SELECT product_id, sum(on_hand) AS on_hand, sum(on_hand - allocated) AS available
    FROM {S} WHERE %(warehouse)s::bigint IS NULL OR warehouse_id = %(warehouse)s GROUP BY product_id),
base AS (
    SELECT p.id, p.sku, p.name, p.category, p.price, coalesce(p.restock_days, %(default_lead)s) AS lead_days,
           coalesce(st.on_hand, 0) AS on_hand, coalesce(st.available, 0) AS available,
           coalesce(d.units, 0) AS units, coalesce(d.recent, 0) AS recent,
           coalesce(d.units, 0)::numeric / %(days)s AS rate,
           sqrt(greatest(coalesce(d.squares, 0)::numeric / %(days)s
                         - power(coalesce(d.units, 0)::numeric / %(days)s, 2), 0)) AS sigma
    FROM {P} p LEFT JOIN stock st ON st.product_id = p.id LEFT JOIN demand d ON d.product_id = p.id
    WHERE p.active OR coalesce(st.on_hand, 0) > 0),
planned AS (
    SELECT base.*, rate * lead_days + %(z)s * sigma * sqrt(lead_days) AS reorder_point,
           %(z)s * sigma * sqrt(lead_days) AS safety_stock,
           CASE WHEN rate > 0 THEN available / rate END AS cover_days
    FROM base),
flagged AS (
    SELECT planned.*,
           greatest(ceil(reorder_point + rate * %(review)s - available), 0) AS suggested,
           rate > 0 AND available <= reorder_point AS reorder,
           on_hand > 0 AND rate > 0 AND cover_days > %(slow)s AS slow,
           on_hand > 0 AND recent <= 0 AS unsold
    FROM planned),
ranked AS (
    SELECT flagged.*,
           row_number() OVER (PARTITION BY reorder ORDER BY cover_days, sku) AS reorder_rank,
           row_number() OVER (PARTITION BY slow ORDER BY cover_days DESC, sku) AS slow_rank,
           row_number() OVER (PARTITION BY unsold ORDER BY on_hand * price DESC, sku) AS unsold_rank,
           count(*) FILTER (WHERE reorder) OVER () AS reorder_count,
           coalesce(sum(on_hand * price) FILTER (WHERE unsold) OVER (), 0) AS unsold_value
    FROM flagged)
SELECT r.*, CASE WHEN r.unsold THEN (SELECT max(x.day) FROM {SD} x WHERE x.product_id = r.id
                                     AND x.units > x.cancelled_units AND x.day <= %(end)s) END AS last_sold
FROM ranked r
WHERE (r.reorder AND r.reorder_rank <= %(list)s) OR (r.slow AND r.slow_rank <= %(list)s)
   OR (r.unsold AND r.unsold_rank <= %(list)s) OR r.reorder_rank = 1
ORDER BY r.sku
"""


def stock_panel(ctx: Context) -> Panel:
    f, links = ctx.filters, ctx.links
    params = f.params(days=f.period.days, default_lead=settings.WAYBILL_BACKORDER_DAYS,
                      z=settings.WAYBILL_ANALYTICS_SERVICE_LEVEL_Z, review=settings.WAYBILL_ANALYTICS_REVIEW_DAYS,
                      slow=SLOW_DAYS, list=LIST,
                      dead_start=f.period.end - timedelta(days=settings.WAYBILL_ANALYTICS_DEAD_STOCK_DAYS - 1))
    panel = Panel("stock", "Stock", f, notes=[
        "Stock is valued at today's prices. Demand is the units sold per day over the period (cancelled orders "
        "left out, days without a sale count). Reorder point = demand over the supplier's lead time (the product's "
        f"restock days, or {settings.WAYBILL_BACKORDER_DAYS}) + safety stock "
        f"(z = {settings.WAYBILL_ANALYTICS_SERVICE_LEVEL_Z} × σ of daily demand × √lead time); the suggestion also "
        f"covers {settings.WAYBILL_ANALYTICS_REVIEW_DAYS} days until the next supplier order.",
        f"Slow movers last more than {SLOW_DAYS} days at that rate; dead stock: in stock, nothing sold in the "
        f"{settings.WAYBILL_ANALYTICS_DEAD_STOCK_DAYS} days to the end of the period "
        "(WAYBILL_ANALYTICS_DEAD_STOCK_DAYS).",
        "Stock is now, whatever the period; the period sets the rate of sales."])
    found = rows(WAREHOUSES_SQL, params)
    total = next((r for r in found if r["total"]), None) or {"on_hand": 0, "value": 0, "allocated": 0, "skus": 0}
    per_warehouse = Table("warehouses", "Stock per warehouse", [
        Column("warehouse", "Warehouse"), Column("skus", "Products in stock", "int"),
        Column("on_hand", "Units on hand", "int"), Column("allocated", "Reserved", "int"),
        Column("value", "Value", "money")])
    for r in found:
        if not r["total"]:
            per_warehouse.rows.append({"warehouse": f"{r['code']} · {r['name']}", "skus": r["skus"],
                                       "on_hand": r["on_hand"], "allocated": r["allocated"],
                                       "value": money(r["value"]),
                                       "_links": {"warehouse": links._url("stock", {"warehouse__id__exact": r["id"]})}})
    panel.charts.append(Chart("value", "Stock value per warehouse", "bar",
                              [r["warehouse"] for r in per_warehouse.rows],
                              [{"label": "Value", "data": [r["value"] for r in per_warehouse.rows]}],
                              table="warehouses"))
    panel.tables.append(per_warehouse)

    products = rows(PRODUCTS_SQL.replace("{daily}", _DAILY_UNFILTERED if unfiltered(f) else _DAILY), params)
    reorder_count = products[0]["reorder_count"] if products else 0
    unsold_value = products[0]["unsold_value"] if products else 0
    panel.figures = [
        Figure("Stock value", money(total["value"]), None, "money", links.stock(f), better=""),
        Figure("Units on hand", total["on_hand"], None, "int", better=""),
        Figure("Products to reorder", reorder_count, None, "int", better="down"),
        Figure("Dead stock (value)", money(unsold_value), None, "money", better="down"),
    ]

    def product_row(p, **extra):
        return {"sku": p["sku"], "name": p["name"], "available": p["available"], "on_hand": p["on_hand"],
                "rate": _round(p["rate"], 2), "cover": _round(p["cover_days"]), "lead": p["lead_days"],
                "_links": {"sku": links.stock(f, q=p["sku"]), "units": links.orders(f, sku=p["sku"])}, **extra}

    reorder = Table("reorder", "Reorder suggestions (the shortest cover first)", [
        Column("sku", "SKU"), Column("name", "Product"), Column("available", "Available", "int"),
        Column("rate", "Sold per day", "decimal"), Column("cover", "Days of cover", "days"),
        Column("lead", "Lead time (days)", "int"), Column("safety", "Safety stock", "decimal"),
        Column("reorder_point", "Reorder point", "decimal"), Column("suggested", "Order", "int")],
        empty="Nothing needs reordering at this rate of sales.")
    slow = Table("slow", f"Slow movers (more than {SLOW_DAYS} days of cover)", [
        Column("sku", "SKU"), Column("name", "Product"), Column("on_hand", "On hand", "int"),
        Column("rate", "Sold per day", "decimal"), Column("cover", "Days of cover", "days"),
        Column("value", "Value", "money")], empty="No slow mover.")
    dead_days = settings.WAYBILL_ANALYTICS_DEAD_STOCK_DAYS
    unsold = Table("unsold", f"Dead stock (in stock, nothing sold in {dead_days} days)", [
        Column("sku", "SKU"), Column("name", "Product"), Column("on_hand", "On hand", "int"),
        Column("value", "Value", "money"), Column("last_sold", "Last sold", "date")], empty="No dead stock.")
    for p in products:
        if p["reorder"] and p["reorder_rank"] <= LIST:
            reorder.rows.append(product_row(p, safety=_round(p["safety_stock"]),
                                            reorder_point=_round(p["reorder_point"]), suggested=int(p["suggested"]),
                                            _rank=p["reorder_rank"]))
        if p["slow"] and p["slow_rank"] <= LIST:
            slow.rows.append(product_row(p, value=money(p["on_hand"] * p["price"]), _rank=p["slow_rank"]))
        if p["unsold"] and p["unsold_rank"] <= LIST:
            unsold.rows.append(product_row(p, value=money(p["on_hand"] * p["price"]), last_sold=p["last_sold"],
                                           _rank=p["unsold_rank"]))
    for table in (reorder, slow, unsold):
        table.rows.sort(key=lambda r: r["_rank"])
    panel.tables += [reorder, slow, unsold]
    return panel


def _round(value, digits: int = 1):
    return None if value is None else round(float(value), digits)
