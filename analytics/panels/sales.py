"""Sales: orders, units and revenue per step; the average order; revenue by product and category; the products
that moved most. Orders count on the day they were placed; revenue is the goods' value (shipping apart), net of
cancelled orders and of the refunds on the others, whenever those came."""

from __future__ import annotations

from inventory.models import Product
from orders.models import Order

from ..db import rows
from ..facts import OrderDay
from .base import Chart, Column, Context, Figure, Nothing, Panel, Table, money, ratio
from .common import aligned, bucket_label, previous_buckets, product_rows, rollup_where

NOT_CANCELLED = ",".join(s for s in Order.Status.values if s != Order.Status.CANCELLED)
REFUNDED = f"{Order.PaymentStatus.PARTIALLY_REFUNDED},{Order.PaymentStatus.REFUNDED}"
TOP_PRODUCTS = 15
MOVERS = 5

SERIES_SQL = f"""
SELECT bucket, current, GROUPING(bucket) = 1 AS total,
       sum(orders) AS orders, sum(cancelled_orders) AS cancelled_orders, sum(units - cancelled_units) AS units,
       sum(revenue) AS revenue, sum(cancelled_revenue) AS cancelled_revenue, sum(refunded) AS refunded,
       sum(revenue - cancelled_revenue - refunded) AS net_revenue, sum(shipping) AS shipping
FROM (SELECT date_trunc(%(grain)s, x.day)::date AS bucket, x.day >= %(start)s AS current, x.*
      FROM {OrderDay._meta.db_table} x WHERE {rollup_where("x")}) x
GROUP BY GROUPING SETS ((bucket, current), (current))
"""

# Per product in both periods, then the top sellers and the biggest movers up and down, ranked in SQL, and the
# categories from the same sums.
def _products_sql(source: str) -> str:
    return f"""
WITH per AS (
    SELECT x.product_id, sum(x.units - x.cancelled_units) FILTER (WHERE x.day >= %(start)s) AS units,
           sum(x.units - x.cancelled_units) FILTER (WHERE x.day < %(start)s) AS previous_units,
           sum(x.revenue - x.cancelled_revenue - x.refunded) FILTER (WHERE x.day >= %(start)s) AS net_revenue,
           sum(x.revenue - x.cancelled_revenue - x.refunded) FILTER (WHERE x.day < %(start)s) AS previous_revenue
    FROM {source} x
    GROUP BY x.product_id),
ranked AS (
    SELECT per.*, coalesce(units, 0) - coalesce(previous_units, 0) AS moved,
           row_number() OVER (ORDER BY coalesce(net_revenue, 0) DESC, product_id) AS by_revenue,
           row_number() OVER (ORDER BY coalesce(units, 0) - coalesce(previous_units, 0) DESC, product_id) AS up,
           row_number() OVER (ORDER BY coalesce(units, 0) - coalesce(previous_units, 0), product_id) AS down
    FROM per),
categories AS (
    SELECT coalesce(nullif(p.category, ''), 'Uncategorised') AS category, coalesce(sum(per.units), 0) AS units,
           coalesce(sum(per.net_revenue), 0) AS net_revenue,
           coalesce(sum(per.previous_revenue), 0) AS previous_revenue
    FROM per JOIN {Product._meta.db_table} p ON p.id = per.product_id
    GROUP BY 1)
SELECT 'product' AS kind, r.product_id, p.sku, p.name, p.category, r.units, r.previous_units, r.net_revenue,
       r.previous_revenue, r.moved, r.by_revenue, r.up, r.down
FROM ranked r JOIN {Product._meta.db_table} p ON p.id = r.product_id
WHERE r.by_revenue <= %(top)s OR r.up <= %(movers)s OR r.down <= %(movers)s
UNION ALL
SELECT 'category', NULL, NULL, NULL, c.category, c.units, NULL, c.net_revenue, c.previous_revenue, NULL, NULL, NULL,
       NULL
FROM categories c
ORDER BY 1 DESC, 11, 8 DESC, 5
"""


def sales_panel(ctx: Context) -> Panel:
    f, links = ctx.filters, ctx.links
    params = f.params(top=TOP_PRODUCTS, movers=MOVERS)
    series = rows(SERIES_SQL, params)
    totals = {r["current"]: r for r in series if r["total"]}
    steps = {r["bucket"]: r for r in series if not r["total"] and r["current"]}
    before = {r["bucket"]: r for r in series if not r["total"] and not r["current"]}
    now, then = totals.get(True) or {}, (totals.get(False) or Nothing()) if f.previous else None

    def value(row, key):
        return (row or {}).get(key) or 0

    def net_orders(row):
        return value(row, "orders") - value(row, "cancelled_orders")

    def aov(row):
        return money(value(row, "net_revenue") / net_orders(row)) if row and net_orders(row) else None

    panel = Panel("sales", "Sales", f, notes=[
        "Orders count on the day they were placed; revenue is the goods' value without shipping. Net revenue "
        "takes off cancelled orders and every refund on the others, whenever it was issued.",
        "All sales channels leave replacements out (they are after-sales); choose Replacement to see them."])
    panel.figures = [
        Figure("Net revenue", money(value(now, "net_revenue")), then and money(value(then, "net_revenue")), "money",
               links.orders(f)),
        Figure("Orders (not cancelled)", net_orders(now), then and net_orders(then), "int",
               links.orders(f, status__in=NOT_CANCELLED)),
        Figure("Units sold", value(now, "units"), then and value(then, "units"), "int"),
        Figure("Average order", aov(now), then and aov(then), "money"),
        Figure("Cancelled orders", value(now, "cancelled_orders"), then and value(then, "cancelled_orders"), "int",
               links.orders(f, status__exact=Order.Status.CANCELLED), better="down"),
        Figure("Refunds", money(value(now, "refunded")), then and money(value(then, "refunded")), "money",
               links.orders(f, payment_status__in=REFUNDED, status__in=NOT_CANCELLED), better="down"),
    ]

    buckets = f.buckets()
    table = Table("series", "Orders and revenue per " + f.grain, [
        Column("step", "Period"), Column("orders", "Orders", "int"), Column("cancelled", "Cancelled", "int"),
        Column("net_orders", "Net orders", "int"), Column("units", "Units", "int"),
        Column("revenue", "Revenue", "money"), Column("cancelled_revenue", "Cancelled value", "money"),
        Column("refunded", "Refunds", "money"), Column("net_revenue", "Net revenue", "money"),
        Column("aov", "Average order", "money")])
    for bucket in buckets:
        row = steps.get(bucket)
        start, end = f.bucket_start(bucket), f.bucket_end(bucket)
        table.rows.append({
            "step": bucket_label(bucket, f.grain), "orders": value(row, "orders"),
            "cancelled": value(row, "cancelled_orders"), "net_orders": net_orders(row), "units": value(row, "units"),
            "revenue": money(value(row, "revenue")), "cancelled_revenue": money(value(row, "cancelled_revenue")),
            "refunded": money(value(row, "refunded")), "net_revenue": money(value(row, "net_revenue")),
            "aov": aov(row),
            "_links": {"orders": links.orders(f, start, end),
                       "cancelled": links.orders(f, start, end, status__exact=Order.Status.CANCELLED),
                       "refunded": links.orders(f, start, end, payment_status__in=REFUNDED,
                                                status__in=NOT_CANCELLED)}})
    labels = [bucket_label(b, f.grain) for b in buckets]
    previous_net = {b: money(before[b]["net_revenue"]) if b in before else money(0) for b in previous_buckets(f)}
    chart_series = [{"label": f"Net revenue, {f.period.label()}", "data": [r["net_revenue"] for r in table.rows]}]
    if f.previous:
        chart_series.append({"label": f"Net revenue, {f.previous.label()}", "previous": True,
                             "data": aligned(buckets, previous_buckets(f), previous_net)})
        table.columns.append(Column("previous_net_revenue", "The period before", "money"))
        for row, earlier in zip(table.rows, aligned(buckets, previous_buckets(f), previous_net), strict=True):
            row["previous_net_revenue"] = earlier
    panel.charts.append(Chart("revenue", "Net revenue", "line", labels, chart_series, table="series"))
    panel.tables.append(table)

    source, extra = product_rows(f)
    found = rows(_products_sql(source), {**params, **extra})
    products = [r for r in found if r["kind"] == "product"]
    top = Table("products", "Products by net revenue", [
        Column("sku", "SKU"), Column("name", "Product"), Column("category", "Category"),
        Column("units", "Units", "int"), Column("net_revenue", "Net revenue", "money"),
        Column("previous_revenue", "Before", "money"), Column("change", "Change", "pct")])
    movers = Table("movers", "Top movers (units, against the period before)", [
        Column("direction", "Direction"), Column("sku", "SKU"), Column("name", "Product"),
        Column("units", "Units", "int"), Column("previous_units", "Before", "int"), Column("moved", "Change", "int")],
        empty="Nothing to compare with." if not f.previous else "Nothing in this period.")
    for p in products:
        if p["by_revenue"] <= TOP_PRODUCTS and p["net_revenue"] is not None:
            top.rows.append({"sku": p["sku"], "name": p["name"], "category": p["category"] or "",
                             "units": p["units"] or 0, "net_revenue": money(p["net_revenue"]),
                             "previous_revenue": money(p["previous_revenue"]) if f.previous else None,
                             "change": _change(p["net_revenue"], p["previous_revenue"]) if f.previous else None,
                             "_links": {"sku": links.orders(f, sku=p["sku"])}})
    if f.previous:
        for direction, key in (("Up", "up"), ("Down", "down")):
            for p in sorted((p for p in products if p[key] <= MOVERS), key=lambda p: p[key]):
                if (p["moved"] > 0) == (direction == "Up") and p["moved"]:
                    movers.rows.append({"direction": direction, "sku": p["sku"], "name": p["name"],
                                        "units": p["units"] or 0, "previous_units": p["previous_units"] or 0,
                                        "moved": p["moved"], "_links": {"sku": links.orders(f, sku=p["sku"])}})
    categories = [r for r in found if r["kind"] == "category"]
    by_category = Table("categories", "Net revenue by category", [
        Column("category", "Category"), Column("units", "Units", "int"), Column("net_revenue", "Net revenue", "money"),
        Column("previous_revenue", "Before", "money"), Column("change", "Change", "pct")])
    for c in categories:
        if c["units"] or c["net_revenue"]:
            by_category.rows.append({**c, "net_revenue": money(c["net_revenue"]),
                                     "previous_revenue": money(c["previous_revenue"]) if f.previous else None,
                                     "change": _change(c["net_revenue"], c["previous_revenue"]) if f.previous
                                     else None})
    panel.charts.append(Chart("categories", "Net revenue by category", "bar",
                              [c["category"] for c in by_category.rows],
                              [{"label": "Net revenue", "data": [c["net_revenue"] for c in by_category.rows]}],
                              table="categories", horizontal=True))
    panel.tables += [top, by_category, movers]
    return panel


def _change(now, before) -> float | None:
    return None if not before else ratio((now or 0) - before, abs(before))
