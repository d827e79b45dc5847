"""Keeping the rollup tables (analytics/facts.py): incrementally, from scratch, and never row by row in Python.

How they stay right:

- **New orders** are placed "now", so they land on an open day. Every day after `RollupState.closed_through` is
  open and is recomputed whole on every refresh (`rollups_refresh`, a periodic task): no work at all in the
  transaction that places an order. A day closes once it ended more than SETTLE ago (no transaction that placed
  an order on it can still be running), so a task that did not run for a week recomputes the week and catches up.
- **Later changes** to an order of a closed day (a cancellation, a refund, a return, a parcel, changed lines) each
  write a timeline entry (orders.signals.order_event_recorded) or change a parcel
  (shipping.signals.shipment_status_changed) inside their transaction; the receivers below append the order's id to
  StaleOrder in that same transaction, so a change that commits is never missed and one that rolls back leaves no
  mark. The refresh recomputes those orders and the days they are on, then deletes exactly the marks it read (a
  mark written meanwhile stays for the next run).
- **Recomputing** an order or a day deletes its rows and inserts them again from the source tables in a few
  INSERT ... SELECT statements: running it twice gives the same rows, and `rollups_rebuild` is the same statements
  over every order. Concurrent refreshes are kept apart by an advisory lock.

Everything here is PostgreSQL (the SQLite demo has no dashboard).
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orders.models import Allocation, Order, OrderEvent, OrderLine
from returns.models import Refund, ReturnLine, ReturnRequest
from shipping.models import Shipment, ShipmentEvent

from .facts import (
    CustomerActivity,
    CustomerDay,
    CustomerDayCount,
    CustomerMonth,
    CustomerSegment,
    CustomerSummary,
    OrderDay,
    OrderFact,
    ParcelDay,
    ParcelSpan,
    ProductDay,
    ProductMonth,
    ReturnFact,
    RollupState,
    SalesDay,
    ShipmentFact,
    StaleOrder,
)
from .segments import SEGMENTS_SQL

logger = logging.getLogger(__name__)

SETTLE = timedelta(minutes=15)  # a day is closed this long after it ended
BATCH = 20_000  # stale orders recomputed per transaction
LOCK_KEY = zlib.crc32(b"analytics.rollups")  # pg_try_advisory_xact_lock: one refresh or rebuild at a time
ROLLUP_MODELS = [OrderFact, OrderDay, SalesDay, ProductDay, ProductMonth, CustomerDay, CustomerActivity,
                 CustomerSummary, CustomerMonth, CustomerDayCount, CustomerSegment, ShipmentFact, ParcelDay, ParcelSpan,
                 ReturnFact]
REPLACEMENT = Order.Channel.REPLACEMENT.value  # after-sales work, not a sale: out of the customer and product rollups
CLAIMING = tuple(ReturnRequest.CLAIMING)


@dataclass
class RollupRun:
    kind: str  # "refresh", "rebuild" or "skipped"
    orders: int = 0
    days: int = 0
    stale: int = 0
    more: bool = False
    seconds: float = 0.0
    reason: str = ""


def available() -> bool:
    return connection.vendor == "postgresql"


def shop_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment, shop_zone()).date()


def day_start(day: date) -> datetime:
    """Midnight at the start of the shop's `day`, as an aware datetime."""
    return datetime.combine(day, datetime.min.time(), tzinfo=shop_zone())


# --- marking orders stale (in the transaction of the change) -----------------------------------------------------

def order_mark_stale(order_id: int) -> None:
    StaleOrder.objects.create(order_id=order_id)


def on_order_event_recorded(sender, *, order, event, **kwargs) -> None:
    """A timeline entry: the order's facts may have changed. Nothing to do while its day is still open (it is
    recomputed anyway), and nothing for the entry that places it."""
    if not available() or (event.kind == OrderEvent.Kind.STATUS and event.transition == "place"):
        return
    placed = getattr(order, "placed_at", None)
    if placed is not None and local_day(placed) >= local_day(timezone.now()):
        return
    order_mark_stale(order.pk)


def on_shipment_status_changed(sender, *, shipment, **kwargs) -> None:
    if available():
        order_mark_stale(shipment.order_id)


# --- refresh and rebuild -----------------------------------------------------------------------------------------

def rollups_refresh(*, now: datetime | None = None, batch: int = BATCH) -> RollupRun:
    """Recompute the open days and up to `batch` stale orders (`more` says whether stale orders are left). The
    first run, or a run after TIME_ZONE changed, rebuilds everything."""
    if not available():
        return RollupRun("skipped", reason="the rollups need PostgreSQL")
    started = time.perf_counter()
    now = now or timezone.now()
    with transaction.atomic():
        if not _lock():
            return RollupRun("skipped", reason="another refresh is running")
        state = _state()
        if state.rebuilt_at is None or state.time_zone != settings.TIME_ZONE or state.closed_through is None:
            return _rebuild(state, now=now, started=started)
        marks = list(StaleOrder.objects.order_by("pk").values_list("pk", "order_id")[:batch])
        stale = sorted({order_id for _, order_id in marks})
        with connection.cursor() as cursor:
            orders, days = _recompute(cursor, placed_from=day_start(state.closed_through + timedelta(days=1)),
                                      order_ids=stale)
            _keep_segments(cursor, local_day(now))
        StaleOrder.objects.filter(pk__in=[pk for pk, _ in marks]).delete()
        state.closed_through = max(state.closed_through, local_day(now - SETTLE) - timedelta(days=1))
        state.refreshed_at = now
        state.seconds = round(time.perf_counter() - started, 3)
        state.save()
    return RollupRun("refresh", orders=orders, days=days, stale=len(stale), more=len(marks) == batch,
                     seconds=state.seconds)


def rollups_rebuild(*, now: datetime | None = None) -> RollupRun:
    """Every rollup from scratch, in one transaction (readers see the old rows until it commits)."""
    if not available():
        return RollupRun("skipped", reason="the rollups need PostgreSQL")
    started = time.perf_counter()
    with transaction.atomic():
        if not _lock(wait=True):
            return RollupRun("skipped", reason="another refresh is running")
        return _rebuild(_state(), now=now or timezone.now(), started=started)


def rollups_state() -> RollupState | None:
    from .db import using

    return RollupState.objects.using(using()).filter(pk=1).first()


def _lock(*, wait: bool = False) -> bool:
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
        return cursor.fetchone()[0]


def _state() -> RollupState:
    RollupState.objects.get_or_create(pk=1)
    return RollupState.objects.select_for_update().get(pk=1)


def _rebuild(state: RollupState, *, now: datetime, started: float) -> RollupRun:
    marks = list(StaleOrder.objects.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        for model in ROLLUP_MODELS:
            cursor.execute(f"DELETE FROM {model._meta.db_table}")
        orders, days = _recompute(cursor, everything=True)
        _keep_segments(cursor, local_day(now))
    StaleOrder.objects.filter(pk__in=marks).delete()
    state.time_zone = settings.TIME_ZONE
    state.closed_through = local_day(now - SETTLE) - timedelta(days=1)
    state.rebuilt_at = state.refreshed_at = now
    state.seconds = round(time.perf_counter() - started, 3)
    state.save()
    logger.info("analytics rollups rebuilt: %s orders, %s days in %.1f s", orders, days, state.seconds)
    return RollupRun("rebuild", orders=orders, days=days, seconds=state.seconds)


# --- the statements ----------------------------------------------------------------------------------------------

T = {
    "order": Order._meta.db_table, "line": OrderLine._meta.db_table, "allocation": Allocation._meta.db_table,
    "refund": Refund._meta.db_table, "return": ReturnRequest._meta.db_table, "return_line": ReturnLine._meta.db_table,
    "shipment": Shipment._meta.db_table, "shipment_event": ShipmentEvent._meta.db_table,
    "fact": OrderFact._meta.db_table, "order_day": OrderDay._meta.db_table, "sales_day": SalesDay._meta.db_table,
    "customer_day": CustomerDay._meta.db_table, "summary": CustomerSummary._meta.db_table,
    "product_day": ProductDay._meta.db_table, "product_month": ProductMonth._meta.db_table,
    "activity": CustomerActivity._meta.db_table, "replacement": REPLACEMENT,
    "return_fact": ReturnFact._meta.db_table,
    "customer_month": CustomerMonth._meta.db_table, "shipment_fact": ShipmentFact._meta.db_table,
    "day_count": CustomerDayCount._meta.db_table, "parcel_day": ParcelDay._meta.db_table,
    "parcel_span": ParcelSpan._meta.db_table,
    "in_scope": "AND (o.channel = '' OR x.channel = o.channel) "
                "AND (o.warehouse_id = 0 OR x.warehouses LIKE '%%,' || o.warehouse_id || ',%%')",
}

_ORDER_FACTS = """
INSERT INTO {fact} (order_id, day, placed_at, channel, warehouses, customer_key, customer_id, status, cancelled,
                    goods, shipping, units, refunded)
SELECT o.id, (o.placed_at AT TIME ZONE %(tz)s)::date, o.placed_at, o.channel, coalesce(w.warehouses, ','),
       lower(o.email), o.customer_id, o.status, o.status = 'cancelled', o.subtotal, o.shipping_total,
       coalesce(l.units, 0), CASE WHEN o.status = 'cancelled' THEN 0 ELSE coalesce(r.items, 0) END
FROM {order} o
JOIN analytics_affected a ON a.order_id = o.id
LEFT JOIN (SELECT al.order_id,
                  ',' || array_to_string(array_agg(DISTINCT al.warehouse_id ORDER BY al.warehouse_id), ',') || ','
                  AS warehouses
           FROM {allocation} al JOIN analytics_affected a ON a.order_id = al.order_id GROUP BY al.order_id) w
       ON w.order_id = o.id
LEFT JOIN (SELECT ol.order_id, sum(ol.quantity) AS units
           FROM {line} ol JOIN analytics_affected a ON a.order_id = ol.order_id GROUP BY ol.order_id) l
       ON l.order_id = o.id
LEFT JOIN (SELECT rf.order_id, sum(rf.items_amount) AS items
           FROM {refund} rf JOIN analytics_affected a ON a.order_id = rf.order_id GROUP BY rf.order_id) r
       ON r.order_id = o.id
"""

_ORDER_DAYS = """
INSERT INTO {order_day} (day, channel, warehouses, guest, orders, cancelled_orders, units, cancelled_units, revenue,
                         cancelled_revenue, refunded, shipping)
SELECT f.day, f.channel, f.warehouses, f.customer_id IS NULL, count(*), count(*) FILTER (WHERE f.cancelled),
       sum(f.units), coalesce(sum(f.units) FILTER (WHERE f.cancelled), 0), sum(f.goods),
       coalesce(sum(f.goods) FILTER (WHERE f.cancelled), 0), sum(f.refunded),
       coalesce(sum(f.shipping) FILTER (WHERE NOT f.cancelled), 0)
FROM {fact} f WHERE f.day IN (SELECT day FROM analytics_days)
GROUP BY f.day, f.channel, f.warehouses, f.customer_id IS NULL
"""

# A refund's items amount is shared by value among the lines it was for (its return's lines, or else every line
# of the order); the cent left over by rounding goes to the biggest line, so the shares add up to the refund.
_SALES_DAYS = """
WITH facts AS (SELECT * FROM {fact} f WHERE f.day IN (SELECT day FROM analytics_days)),
lines AS (SELECT f.day, f.channel, f.warehouses, f.cancelled, ol.id AS line_id, ol.product_id, ol.quantity,
                 ol.line_total
          FROM facts f JOIN {line} ol ON ol.order_id = f.order_id),
weights AS (SELECT rf.id AS refund_id, rf.items_amount, rl.order_line_id AS line_id,
                   sum(rl.quantity * ol.unit_price) AS weight
            FROM facts f JOIN {refund} rf ON rf.order_id = f.order_id
            JOIN {return_line} rl ON rl.return_request_id = rf.return_request_id
            JOIN {line} ol ON ol.id = rl.order_line_id
            WHERE NOT f.cancelled AND rf.items_amount > 0
            GROUP BY rf.id, rf.items_amount, rl.order_line_id
            UNION ALL
            SELECT rf.id, rf.items_amount, ol.id, ol.line_total
            FROM facts f JOIN {refund} rf ON rf.order_id = f.order_id AND rf.return_request_id IS NULL
            JOIN {line} ol ON ol.order_id = f.order_id
            WHERE NOT f.cancelled AND rf.items_amount > 0),
shares AS (SELECT refund_id, line_id, items_amount,
                  coalesce(round(items_amount * weight / nullif(sum(weight) OVER (PARTITION BY refund_id), 0), 2),
                           0) AS share,
                  row_number() OVER (PARTITION BY refund_id ORDER BY weight DESC, line_id) AS rank
           FROM weights),
refunded AS (SELECT line_id, sum(CASE WHEN rank = 1 THEN items_amount - (total - share) ELSE share END) AS amount
             FROM (SELECT *, sum(share) OVER (PARTITION BY refund_id) AS total FROM shares) s
             GROUP BY line_id)
INSERT INTO {sales_day} (day, product_id, warehouses, channel, orders, units, revenue, cancelled_units,
                         cancelled_revenue, refunded)
SELECT l.day, l.product_id, l.warehouses, l.channel, count(*), sum(l.quantity), sum(l.line_total),
       coalesce(sum(l.quantity) FILTER (WHERE l.cancelled), 0),
       coalesce(sum(l.line_total) FILTER (WHERE l.cancelled), 0), coalesce(sum(r.amount), 0)
FROM lines l LEFT JOIN refunded r ON r.line_id = l.line_id
GROUP BY l.day, l.product_id, l.warehouses, l.channel
"""

_CUSTOMER_DAYS = """
INSERT INTO {customer_day} (day, customer_key, channel, warehouses, customer_id, orders, revenue)
SELECT f.day, f.customer_key, f.channel, f.warehouses, max(f.customer_id), count(*), sum(f.goods - f.refunded)
FROM {fact} f WHERE f.day IN (SELECT day FROM analytics_days) AND NOT f.cancelled AND f.channel <> '{replacement}'
GROUP BY f.day, f.customer_key, f.channel, f.warehouses
"""

# Each touched customer's order days in order: the day before each one is its previous_day.
_PREVIOUS_DAYS = """
UPDATE {customer_day} c SET previous_day = p.previous_day
FROM (SELECT d.customer_key, d.day, lag(d.day) OVER (PARTITION BY d.customer_key ORDER BY d.day) AS previous_day
      FROM (SELECT DISTINCT cd.customer_key, cd.day FROM {customer_day} cd
            JOIN analytics_customers t ON t.customer_key = cd.customer_key) d) p
WHERE c.customer_key = p.customer_key AND c.day = p.day AND c.previous_day IS DISTINCT FROM p.previous_day
"""

_PRODUCT_DAYS = """
INSERT INTO {product_day} (day, product_id, units, revenue, cancelled_units, cancelled_revenue, refunded)
SELECT x.day, x.product_id, sum(x.units), sum(x.revenue), sum(x.cancelled_units), sum(x.cancelled_revenue),
       sum(x.refunded)
FROM {sales_day} x WHERE x.day IN (SELECT day FROM analytics_days) AND x.channel <> '{replacement}'
GROUP BY x.day, x.product_id
"""

_PRODUCT_MONTHS = """
INSERT INTO {product_month} (month, product_id, units, revenue, cancelled_units, cancelled_revenue, refunded)
SELECT m.month, x.product_id, sum(x.units), sum(x.revenue), sum(x.cancelled_units), sum(x.cancelled_revenue),
       sum(x.refunded)
FROM analytics_months m JOIN {product_day} x ON x.day >= m.month AND x.day < m.month + interval '1 month'
GROUP BY m.month, x.product_id
"""

_ACTIVITY = """
INSERT INTO {activity} (day, customer_key, customer_id, orders, revenue, previous_day, next_day)
SELECT a.day, a.customer_key, a.customer_id, a.orders, a.revenue,
       lag(a.day) OVER (PARTITION BY a.customer_key ORDER BY a.day),
       lead(a.day) OVER (PARTITION BY a.customer_key ORDER BY a.day)
FROM (SELECT cd.day, cd.customer_key, max(cd.customer_id) AS customer_id, sum(cd.orders) AS orders,
             sum(cd.revenue) AS revenue
      FROM {customer_day} cd JOIN analytics_customers t ON t.customer_key = cd.customer_key
      GROUP BY cd.day, cd.customer_key) a
"""

_SUMMARIES = """
INSERT INTO {summary} (customer_key, customer_id, first_day, last_day, orders, order_days, revenue)
SELECT cd.customer_key, max(cd.customer_id), min(cd.day), max(cd.day), sum(cd.orders), count(DISTINCT cd.day),
       sum(cd.revenue)
FROM {customer_day} cd JOIN analytics_customers t ON t.customer_key = cd.customer_key
GROUP BY cd.customer_key
"""

_CUSTOMER_MONTHS = """
INSERT INTO {customer_month} (customer_key, month, cohort, orders, revenue)
SELECT cd.customer_key, date_trunc('month', cd.day)::date, date_trunc('month', s.first_day)::date, sum(cd.orders),
       sum(cd.revenue)
FROM {customer_day} cd JOIN analytics_customers t ON t.customer_key = cd.customer_key
JOIN {summary} s ON s.customer_key = cd.customer_key
GROUP BY cd.customer_key, date_trunc('month', cd.day), date_trunc('month', s.first_day)
"""

# The touched customers' order days as CustomerDayCount counts them, in every scope they are in (every sales channel
# and theirs, every warehouse and each of theirs), with the sign given: taken off (-1) before anything of theirs is
# rewritten and added (+1) after; the sums are then added to the table and the rows left at zero deleted. Only what
# can change is counted: a customer's days from their first changed one (`since`; the previous day in the scope of
# the first of them looked up before it), and their first order day (the days until their next one may change).
_DAY_COUNTS_DELTA = """
INSERT INTO analytics_day_counts (channel, warehouse_id, day, gap, scope_gap, guest, first_single, next_gap,
                                  customers, orders, revenue)
WITH scoped AS (
    SELECT sc.channel, sw.warehouse_id, cd.customer_key, cd.day, cd.since, max(cd.customer_id) AS customer_id,
           sum(cd.orders) AS orders, sum(cd.revenue) AS revenue, min(cd.previous_day) AS previous_day
    FROM (SELECT cd.*, t.since FROM analytics_customers t  -- OFFSET 0: each customer's days by the index, never
          CROSS JOIN LATERAL (SELECT * FROM {customer_day} x  -- a scan of the table (the planner cannot know
                              WHERE x.customer_key = t.customer_key AND x.day >= t.since OFFSET 0) cd  -- how few)
          UNION ALL
          SELECT cd.*, t.since FROM analytics_customers t
          JOIN {customer_day} cd ON cd.customer_key = t.customer_key AND cd.day = t.first_day
          WHERE t.first_day < t.since) cd
    CROSS JOIN LATERAL (VALUES (''), (cd.channel)) sc (channel)
    CROSS JOIN LATERAL (SELECT 0::bigint UNION ALL
                        SELECT w::bigint FROM unnest(string_to_array(trim(BOTH ',' FROM cd.warehouses), ',')) w
                       ) sw (warehouse_id)
    GROUP BY 1, 2, 3, 4, 5),
windowed AS (
    SELECT s.*, lag(s.day) OVER w AS previous_in_window, lead(s.day) OVER w AS next_in_window
    FROM scoped s WINDOW w AS (PARTITION BY s.channel, s.warehouse_id, s.customer_key, s.day >= s.since
                               ORDER BY s.day)),
ordered AS (
    SELECT o.*,
           CASE WHEN o.day < o.since THEN NULL
                WHEN o.previous_in_window IS NOT NULL THEN o.previous_in_window
                WHEN o.channel = '' AND o.warehouse_id = 0 THEN o.previous_day  -- every order day is in this scope
                ELSE (SELECT max(x.day) FROM {customer_day} x
                      WHERE x.customer_key = o.customer_key AND x.day < o.since {in_scope}) END AS previous_in_scope,
           CASE WHEN o.previous_day IS NOT NULL OR o.orders <> 1 THEN NULL
                WHEN o.day >= o.since THEN o.next_in_window
                ELSE (SELECT min(x.day) FROM {customer_day} x
                      WHERE x.customer_key = o.customer_key AND x.day > o.day {in_scope}) END AS next_in_scope
    FROM windowed o)
SELECT o.channel, o.warehouse_id, o.day, coalesce(o.day - o.previous_day, 0),
       coalesce(o.day - o.previous_in_scope, 0), o.customer_id IS NULL, o.previous_day IS NULL AND o.orders = 1,
       CASE WHEN o.previous_day IS NULL AND o.orders = 1 THEN coalesce(o.next_in_scope - o.day, 0) ELSE 0 END,
       %(sign)s * count(*), %(sign)s * sum(o.orders), %(sign)s * sum(o.revenue)
FROM ordered o
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""

_DAY_COUNTS_APPLY = """
WITH changed AS (
    INSERT INTO {day_count} AS c (channel, warehouse_id, day, gap, scope_gap, guest, first_single, next_gap,
                                  customers, orders, revenue)
    SELECT channel, warehouse_id, day, gap, scope_gap, guest, first_single, next_gap, sum(customers), sum(orders),
           sum(revenue)
    FROM analytics_day_counts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    HAVING sum(customers) <> 0 OR sum(orders) <> 0 OR sum(revenue) <> 0
    ON CONFLICT (channel, warehouse_id, day, gap, scope_gap, guest, first_single, next_gap) DO UPDATE
    SET customers = c.customers + excluded.customers, orders = c.orders + excluded.orders,
        revenue = c.revenue + excluded.revenue
    RETURNING c.id, c.customers)
INSERT INTO analytics_empty_counts SELECT id FROM changed WHERE customers = 0
"""

_SHIPMENT_FACTS = """
INSERT INTO {shipment_fact} (shipment_id, order_id, order_day, day, warehouse_id, carrier_id, channel, status,
                             placed_to_shipped_hours, shipped_to_delivered_hours, delivered_by_promise, exception)
SELECT s.id, s.order_id, f.day, (s.shipped_at AT TIME ZONE %(tz)s)::date, s.warehouse_id, s.carrier_id, f.channel,
       s.status, extract(epoch FROM s.shipped_at - f.placed_at) / 3600,
       extract(epoch FROM s.delivered_at - s.shipped_at) / 3600,
       CASE WHEN s.delivered_at IS NULL OR s.expected_delivery IS NULL THEN NULL
            ELSE (s.delivered_at AT TIME ZONE %(tz)s)::date <= s.expected_delivery END,
       s.status = 'exception' OR EXISTS (SELECT 1 FROM {shipment_event} e WHERE e.shipment_id = s.id
                                         AND 'exception' IN (e.to_status, e.reported_status))
FROM {shipment} s JOIN analytics_affected a ON a.order_id = s.order_id JOIN {fact} f ON f.order_id = s.order_id
WHERE s.direction = 'outbound' AND s.status <> 'cancelled'
"""


# Parcel hours of the given days as histograms (bucket h: hours in (h - 1, h]); promises and exceptions counted on
# the placed → carrier rows, which hold each parcel once.
_PARCEL_DAYS = """
INSERT INTO {parcel_day} (day, warehouse_id, carrier_id, channel, measure, hours, parcels, least, greatest,
                          with_promise, delivered_in_time, exceptions)
SELECT x.day, x.warehouse_id, x.carrier_id, x.channel, m.measure, ceil(m.hours)::int, count(*), min(m.hours),
       max(m.hours), count(x.delivered_by_promise) FILTER (WHERE m.measure = 'shipped'),
       count(*) FILTER (WHERE m.measure = 'shipped' AND x.delivered_by_promise),
       count(*) FILTER (WHERE m.measure = 'shipped' AND x.exception)
FROM {shipment_fact} x
CROSS JOIN LATERAL (VALUES ('shipped', x.placed_to_shipped_hours),
                           ('delivered', x.shipped_to_delivered_hours)) m (measure, hours)
WHERE x.day IN (SELECT day FROM analytics_parcel_days) AND m.hours IS NOT NULL
GROUP BY x.day, x.warehouse_id, x.carrier_id, x.channel, m.measure, ceil(m.hours)::int
"""

_PARCEL_SPANS = """
INSERT INTO {parcel_span} (grain, start, warehouse_id, carrier_id, channel, measure, hours, parcels, least, greatest,
                           with_promise, delivered_in_time, exceptions)
SELECT s.grain, s.start, x.warehouse_id, x.carrier_id, x.channel, x.measure, x.hours, sum(x.parcels), min(x.least),
       max(x.greatest), sum(x.with_promise), sum(x.delivered_in_time), sum(x.exceptions)
FROM analytics_parcel_spans s
JOIN {parcel_day} x ON x.day >= s.start
                   AND x.day < s.start + CASE s.grain WHEN 'week' THEN interval '7 days' ELSE interval '1 month' END
GROUP BY s.grain, s.start, x.warehouse_id, x.carrier_id, x.channel, x.measure, x.hours
"""

_RETURN_FACTS = """
INSERT INTO {return_fact} (return_line_id, return_request_id, order_id, day, product_id, reason, warehouse_id,
                           channel, units)
SELECT rl.id, rr.id, rr.order_id, (rr.created_at AT TIME ZONE %(tz)s)::date, ol.product_id, rl.reason,
       rr.warehouse_id, f.channel, rl.quantity
FROM {return} rr JOIN analytics_affected a ON a.order_id = rr.order_id JOIN {fact} f ON f.order_id = rr.order_id
JOIN {return_line} rl ON rl.return_request_id = rr.id JOIN {line} ol ON ol.id = rl.order_line_id
WHERE rr.status = ANY(%(claiming)s)
"""


def _sql(template: str) -> str:
    return template.format(**T)


def _recompute(cursor, *, placed_from: datetime | None = None, order_ids=(), everything: bool = False
               ) -> tuple[int, int]:
    """Recompute the orders placed from `placed_from` and those in `order_ids` (or every order), and every day
    they are on. Returns (orders, days)."""
    tz = {"tz": settings.TIME_ZONE}
    cursor.execute("CREATE TEMP TABLE analytics_affected (order_id bigint PRIMARY KEY) ON COMMIT DROP")
    if everything:
        cursor.execute(f"INSERT INTO analytics_affected SELECT id FROM {T['order']}")
    else:
        cursor.execute(f"INSERT INTO analytics_affected SELECT id FROM {T['order']} WHERE placed_at >= %s "
                       "UNION SELECT unnest(%s::bigint[])", [placed_from, list(order_ids)])
    orders = cursor.rowcount
    cursor.execute("ANALYZE analytics_affected")  # temporary tables get no statistics of their own
    cursor.execute(_sql("CREATE TEMP TABLE analytics_days ON COMMIT DROP AS "
                        "SELECT f.day FROM {fact} f JOIN analytics_affected a ON a.order_id = f.order_id "
                        "UNION SELECT (o.placed_at AT TIME ZONE %(tz)s)::date FROM {order} o "
                        "JOIN analytics_affected a ON a.order_id = o.id"), tz)
    days = cursor.rowcount
    cursor.execute("ANALYZE analytics_days")
    cursor.execute("CREATE TEMP TABLE analytics_customers (customer_key varchar(254) PRIMARY KEY, "
                   "since date NOT NULL, first_day date) ON COMMIT DROP")

    cursor.execute(_sql("DELETE FROM {fact} f USING analytics_affected a WHERE f.order_id = a.order_id"))
    cursor.execute(_sql(_ORDER_FACTS), tz)
    for table in ("order_day", "sales_day"):
        cursor.execute(_sql(f"DELETE FROM {{{table}}} WHERE day IN (SELECT day FROM analytics_days)"))
    cursor.execute(_sql(_ORDER_DAYS))
    cursor.execute(_sql(_SALES_DAYS))
    cursor.execute(_sql("DELETE FROM {product_day} WHERE day IN (SELECT day FROM analytics_days)"))
    cursor.execute(_sql(_PRODUCT_DAYS))
    cursor.execute("CREATE TEMP TABLE analytics_months ON COMMIT DROP AS "
                   "SELECT DISTINCT date_trunc('month', day)::date AS month FROM analytics_days")
    cursor.execute(_sql("DELETE FROM {product_month} WHERE month IN (SELECT month FROM analytics_months)"))
    cursor.execute(_sql(_PRODUCT_MONTHS))

    # the customers touched: those with orders on the days, before and after (OrderFact is already rewritten); their
    # counted days are taken off before any of their rows change
    cursor.execute(_sql("INSERT INTO analytics_customers "
                        "SELECT customer_key, min(day) FROM ("
                        "SELECT customer_key, day FROM {customer_day} WHERE day IN (SELECT day FROM analytics_days) "
                        "UNION ALL SELECT f.customer_key, f.day FROM {fact} f "
                        "WHERE f.day IN (SELECT day FROM analytics_days) "
                        "AND NOT f.cancelled AND f.channel <> '{replacement}') d GROUP BY customer_key"))
    # their first order day: before `since` it is the same before and after
    cursor.execute(_sql("UPDATE analytics_customers t SET first_day = "
                        "(SELECT min(cd.day) FROM {customer_day} cd WHERE cd.customer_key = t.customer_key)"))
    cursor.execute("ANALYZE analytics_customers")
    cursor.execute("CREATE TEMP TABLE analytics_day_counts (channel varchar(20), warehouse_id bigint, day date, "
                   "gap int, scope_gap int, guest bool, first_single bool, next_gap int, customers int, orders int, "
                   "revenue numeric) ON COMMIT DROP")
    cursor.execute(_sql(_DAY_COUNTS_DELTA), {"sign": -1})
    cursor.execute(_sql("DELETE FROM {customer_day} WHERE day IN (SELECT day FROM analytics_days)"))
    cursor.execute(_sql(_CUSTOMER_DAYS))
    cursor.execute(_sql(_PREVIOUS_DAYS))
    for table in ("summary", "customer_month", "activity"):
        cursor.execute(_sql(f"DELETE FROM {{{table}}} x USING analytics_customers t "
                            "WHERE x.customer_key = t.customer_key"))
    cursor.execute(_sql(_SUMMARIES))
    cursor.execute(_sql(_CUSTOMER_MONTHS))
    cursor.execute(_sql(_ACTIVITY))
    cursor.execute(_sql(_DAY_COUNTS_DELTA), {"sign": 1})
    cursor.execute("CREATE TEMP TABLE analytics_empty_counts (id bigint) ON COMMIT DROP")
    cursor.execute(_sql(_DAY_COUNTS_APPLY))
    cursor.execute(_sql("DELETE FROM {day_count} c USING analytics_empty_counts e WHERE c.id = e.id"))

    # the parcels' days before and after: a parcel may have been handed over on another day since
    cursor.execute("CREATE TEMP TABLE analytics_parcel_days (day date PRIMARY KEY) ON COMMIT DROP")
    cursor.execute(_sql("WITH gone AS (DELETE FROM {shipment_fact} s USING analytics_affected a "
                        "WHERE s.order_id = a.order_id RETURNING s.day) "
                        "INSERT INTO analytics_parcel_days SELECT DISTINCT day FROM gone WHERE day IS NOT NULL"))
    cursor.execute(_sql(_SHIPMENT_FACTS), tz)
    cursor.execute(_sql("INSERT INTO analytics_parcel_days SELECT DISTINCT s.day FROM {shipment_fact} s "
                        "JOIN analytics_affected a ON a.order_id = s.order_id WHERE s.day IS NOT NULL "
                        "EXCEPT SELECT day FROM analytics_parcel_days"))
    cursor.execute("ANALYZE analytics_parcel_days")
    cursor.execute(_sql("DELETE FROM {parcel_day} WHERE day IN (SELECT day FROM analytics_parcel_days)"))
    cursor.execute(_sql(_PARCEL_DAYS))
    cursor.execute("CREATE TEMP TABLE analytics_parcel_spans ON COMMIT DROP AS "
                   "SELECT DISTINCT 'week'::varchar AS grain, date_trunc('week', day)::date AS start "
                   "FROM analytics_parcel_days "
                   "UNION SELECT DISTINCT 'month', date_trunc('month', day)::date FROM analytics_parcel_days")
    cursor.execute(_sql("DELETE FROM {parcel_span} x USING analytics_parcel_spans s "
                        "WHERE x.grain = s.grain AND x.start = s.start"))
    cursor.execute(_sql(_PARCEL_SPANS))
    cursor.execute(_sql("DELETE FROM {return_fact} r USING analytics_affected a WHERE r.order_id = a.order_id"))
    cursor.execute(_sql(_RETURN_FACTS), {**tz, "claiming": [str(status) for status in CLAIMING]})
    for name in ("analytics_affected", "analytics_days", "analytics_months", "analytics_customers",
                 "analytics_day_counts", "analytics_empty_counts", "analytics_parcel_days", "analytics_parcel_spans"):
        cursor.execute(f"DROP TABLE {name}")  # a second recompute in the same transaction makes them again
    return orders, days


def _keep_segments(cursor, today: date) -> None:
    """The RFM segments as of today, for the customers panel (CustomerSummary changes only here)."""
    table = CustomerSegment._meta.db_table
    cursor.execute(f"DELETE FROM {table}")
    cursor.execute(f"INSERT INTO {table} (as_of, segment, customers, revenue, orders, recency) "
                   f"SELECT %(today)s, segment, customers, revenue, orders, recency FROM ({SEGMENTS_SQL}) s",
                   {"today": today})


def rollups_catch_up(*, budget_seconds: float = 90.0, batch: int = BATCH) -> dict:
    """Refresh until no stale order is left or the time budget is spent (the next run goes on from there)."""
    deadline = time.perf_counter() + budget_seconds
    runs = []
    while True:
        run = rollups_refresh(batch=batch)
        runs.append(run)
        if not run.more or time.perf_counter() > deadline:
            break
    return {"kind": runs[0].kind, "runs": len(runs), "orders": sum(r.orders for r in runs),
            "stale": sum(r.stale for r in runs), "more": runs[-1].more, "reason": runs[-1].reason,
            "seconds": round(sum(r.seconds for r in runs), 3)}
