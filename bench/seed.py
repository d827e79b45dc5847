"""Seed the benchmark template: a catalogue, customers and a million orders with lines, allocations and timelines.

Run by the runner as `python -m bench.seed VERSION` with the template database as `default`. Orders and lines go
in with COPY (psycopg 3 `cursor.copy()`); allocations, timeline entries and the stock totals that match them are
derived inside PostgreSQL with INSERT ... SELECT. Secondary indexes are dropped for the load and rebuilt after,
then VACUUM ANALYZE gives the planner honest statistics and index-only scans their visibility map.

Shape of the data (so that index choices are tested honestly):
- 50,000 customers; 10 % of orders are guest orders; order counts per customer are skewed (a few customers
  have thousands of orders, most have a handful).
- placed_at spans two years and grows over time; the status follows the age of the order (recent orders are
  placed/confirmed/processing, old ones delivered or cancelled), so "processing" is rare and "delivered" common.
- 1 to 5 lines per order over 1,000 SKUs in 8 categories, 3 warehouses (orders spread 6 : 3 : 1 over them); the
  last SERIAL_SKUS of them are serial-tracked (phones).
- channels: 8 % phone orders, 5 % imports, the rest the storefront.
- every order that left has its parcel (from its warehouse with one of the carriers, a tracking number, its lines, a
  label, a pick-up scan and, once delivered, a delivery scan; 3 % of those in transit have a delivery exception);
  each serial-tracked unit in it has its serial number, packed in the parcel and shipped with the order, so tracking
  numbers and serials can be looked up at scale. Returns resolved with a refund have their Refund.
- the analytics rollups are built at the end, from all of it, in SQL (analytics.rollups.rollups_rebuild).
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal

import django
from django.apps import apps

if not apps.ready:  # run as `python -m bench.seed`; imported (tests), Django is already set up
    django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from inventory.models import Product, StockLevel, StockMovement, Unit, UnitEvent, Warehouse  # noqa: E402
from orders.models import NUMBER_ALPHABET, Allocation, Order, OrderEvent, OrderLine  # noqa: E402
from returns.models import Reason, Refund, ReturnLine, ReturnRequest  # noqa: E402
from shipping.models import Carrier, Shipment, ShipmentEvent, ShipmentLine, ShipmentUnit  # noqa: E402

ORDERS = int(os.environ.get("BENCH_ORDERS", "1000000"))
CUSTOMERS = 50_000
SKUS = 1_000
SERIAL_SKUS = 10  # SKU-00991 ... SKU-01000 carry serial numbers
WAREHOUSES = [("WH-A", "Main warehouse", 1), ("WH-B", "North hub", 2), ("WH-C", "Overflow", 3)]
OPENING_STOCK = 1_000_000  # free units per SKU and warehouse: "ample stock"
ADMIN_USERNAME = "bench-admin"
CITIES = [("Berlin", "10115", "DE"), ("Hamburg", "20095", "DE"), ("Paris", "75001", "FR"), ("Lyon", "69001", "FR"),
          ("Milan", "20121", "IT"), ("Madrid", "28001", "ES"), ("Vienna", "1010", "AT"), ("Amsterdam", "1011", "NL"),
          ("London", "N1 9GU", "GB"), ("Warsaw", "00-001", "PL")]
LINE_COUNTS = [1] * 45 + [2] * 25 + [3] * 15 + [4] * 10 + [5] * 5
CATEGORIES = ["Phones", "Tablets", "Watches", "Audio", "Cases", "Chargers", "Cables", "Accessories"]


def channel_for(oid: int) -> str:
    """Derived from the id, not the random stream (the rest of the seed stays as it was)."""
    return "phone" if oid % 100 < 8 else "import" if oid % 100 < 13 else "storefront"


def warehouse_sql(column: str, ids: list[int]) -> str:
    """SQL choosing an order's warehouse from its id: 60 % the first, 30 % the second, 10 % the third."""
    return f"CASE WHEN {column} % 10 < 6 THEN {ids[0]} WHEN {column} % 10 < 9 THEN {ids[1]} ELSE {ids[2]} END"


def order_number(i: int) -> str:
    """A unique, random-looking order number for seed row i (a bijection of i modulo 32**8)."""
    x = (i * 0x9E3779B1 + 0x5BD1E995) % (32**8)
    digits = []
    for _ in range(8):
        digits.append(NUMBER_ALPHABET[x % 32])
        x //= 32
    body = "".join(digits)
    return f"WB-{body[:4]}-{body[4:]}"


def status_for(age_days: float, r: random.Random) -> str:
    u = r.random()
    S = Order.Status
    if age_days < 1:
        table = [(0.40, S.PLACED), (0.65, S.CONFIRMED), (0.83, S.PROCESSING), (0.88, S.PACKED), (0.93, S.ON_HOLD)]
        default = S.CANCELLED
    elif age_days < 3:
        table = [(0.15, S.PROCESSING), (0.35, S.PACKED), (0.40, S.PARTIALLY_SHIPPED), (0.88, S.SHIPPED),
                 (0.92, S.ON_HOLD)]
        default = S.CANCELLED
    elif age_days < 14:
        table = [(0.40, S.SHIPPED), (0.91, S.DELIVERED), (0.92, S.ON_HOLD)]
        default = S.CANCELLED
    else:
        table = [(0.01, S.SHIPPED), (0.93, S.DELIVERED)]
        default = S.CANCELLED
    return next((status for bound, status in table if u < bound), default)


def payment_for(status: str, r: random.Random) -> str:
    P = Order.PaymentStatus
    if status == Order.Status.PLACED:
        return P.UNPAID if r.random() < 0.7 else P.PAID
    if status == Order.Status.CANCELLED:
        return P.REFUNDED if r.random() < 0.6 else P.UNPAID
    return P.PARTIALLY_REFUNDED if r.random() < 0.02 else P.PAID


def _tsv(values) -> str:
    return "\t".join("\\N" if v is None else str(v) for v in values) + "\n"


def _secondary_indexes(tables: list[str]) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.tablename = ANY(%s) AND i.schemaname = 'public'
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [tables],
        )
        return cursor.fetchall()


def seed_catalogue():
    User = get_user_model()
    admin = User.objects.create_superuser(ADMIN_USERNAME, "bench-admin@example.com", "bench-admin-password")
    warehouses = Warehouse.objects.bulk_create(
        [Warehouse(code=code, name=name, priority=prio) for code, name, prio in WAREHOUSES]
    )
    r = random.Random(7)
    products = Product.objects.bulk_create([
        Product(sku=f"SKU-{n:05d}", name=f"Catalogue item {n}", price=Decimal(r.randrange(500, 19900)) / 100,
                low_stock_threshold=5, serial_tracked=n > SKUS - SERIAL_SKUS,
                category=CATEGORIES[n % len(CATEGORIES)], restock_days=7 + n % 4 * 7)
        for n in range(1, SKUS + 1)
    ])
    StockLevel.objects.bulk_create([
        StockLevel(product=p, warehouse=w, on_hand=OPENING_STOCK, allocated=0) for p in products for w in warehouses
    ])
    return admin, warehouses, products


def copy_customers(cursor, now) -> list[int]:
    table = get_user_model()._meta.db_table
    cols = ["password", "is_superuser", "username", "first_name", "last_name", "email", "is_staff", "is_active",
            "date_joined"]
    joined = now - timedelta(days=800)
    with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        buf = []
        for n in range(1, CUSTOMERS + 1):
            buf.append(_tsv(["!", "f", f"customer{n:05d}", "Customer", f"No {n}", f"customer{n:05d}@example.com",
                             "f", "t", joined.isoformat()]))
            if len(buf) >= 10_000:
                copy.write("".join(buf))
                buf = []
        copy.write("".join(buf))
    cursor.execute(f"SELECT id FROM {table} WHERE username LIKE 'customer%%' ORDER BY id")
    return [row[0] for row in cursor.fetchall()]


def copy_orders(cursor, *, customers: list[int], products: list[Product], now) -> dict:
    r = random.Random(42)
    prices = [(p.pk, p.sku, p.name, p.price) for p in products]
    start = now - timedelta(days=730)
    span = (now - start).total_seconds()
    order_cols = ["id", "number", "customer_id", "email", "phone", "ship_name", "ship_line1", "ship_line2",
                  "ship_city", "ship_postal_code", "ship_region", "ship_country", "currency", "subtotal",
                  "shipping_total", "total", "payment_status", "notes", "status", "status_before_hold", "placed_at",
                  "updated_at", "refunded_total", "amount_paid", "channel"]
    line_cols = ["id", "order_id", "product_id", "sku", "name", "quantity", "unit_price", "line_total",
                 "shipped_quantity", "returned_quantity", "backordered_quantity"]
    line_id = 0
    counts: dict[str, int] = {}
    with (
        cursor.copy(f"COPY {Order._meta.db_table} ({', '.join(order_cols)}) FROM STDIN") as order_copy,
    ):
        order_buf, line_buf = [], []
        lines_file = []
        for i in range(ORDERS):
            oid = i + 1
            # Monotone in i (ids grow with time), denser towards now.
            placed = start + timedelta(seconds=span * ((i + r.random()) / ORDERS) ** 0.5)
            age = (now - placed).total_seconds() / 86400
            status = status_for(age, r)
            counts[status] = counts.get(status, 0) + 1
            if r.random() < 0.10:
                customer_id, email = None, f"guest{oid}@example.net"
            else:
                idx = int(len(customers) * r.random() ** 2)
                customer_id = customers[idx]
                email = f"customer{idx + 1:05d}@example.com"
            city, postcode, country = CITIES[oid % len(CITIES)]
            n_lines = r.choice(LINE_COUNTS)
            subtotal = Decimal(0)
            for j, k in enumerate(r.sample(range(SKUS), n_lines)):
                pid, sku, name, price = prices[k]
                qty = 1 if r.random() < 0.8 else r.randint(2, 4)
                total = price * qty
                subtotal += total
                if status in (Order.Status.SHIPPED, Order.Status.DELIVERED) or (
                    status == Order.Status.PARTIALLY_SHIPPED and j == 0
                ):
                    shipped = qty
                else:
                    shipped = 0
                line_id += 1
                line_buf.append(_tsv([line_id, oid, pid, sku, name, qty, price, total, shipped, 0, 0]))
            shipping = Decimal("4.90") if subtotal < 50 else Decimal(0)
            before = ("placed" if r.random() < 0.5 else "confirmed") if status == Order.Status.ON_HOLD else ""
            payment = payment_for(status, r)
            updated = min(placed + timedelta(hours=min(age * 24, 6 + 48 * r.random())), now)
            order_buf.append(_tsv([
                oid, order_number(i), customer_id, email, "", f"Recipient {oid}", f"{oid % 300 + 1} Market Street",
                "", city, postcode, "", country, "EUR", subtotal, shipping, subtotal + shipping,
                payment, "", status, before, placed.isoformat(), updated.isoformat(), 0,
                0 if payment == "unpaid" else subtotal + shipping, channel_for(oid),
            ]))
            if len(order_buf) >= 20_000:
                order_copy.write("".join(order_buf))
                order_buf = []
                lines_file.append("".join(line_buf))
                line_buf = []
        order_copy.write("".join(order_buf))
        lines_file.append("".join(line_buf))
    with cursor.copy(f"COPY {OrderLine._meta.db_table} ({', '.join(line_cols)}) FROM STDIN") as line_copy:
        for chunk in lines_file:
            line_copy.write(chunk)
    return {"orders": ORDERS, "lines": line_id, "by_status": counts}


def derive_rows(cursor, *, warehouse_ids: list[int], admin_id: int) -> None:
    order, line, alloc, event = (Order._meta.db_table, OrderLine._meta.db_table, Allocation._meta.db_table,
                                 OrderEvent._meta.db_table)
    level, movement = StockLevel._meta.db_table, StockMovement._meta.db_table
    # Allocations: whatever is not shipped stays reserved, except for cancelled orders (released).
    cursor.execute(f"""
        INSERT INTO {alloc} (order_id, line_id, product_id, warehouse_id, quantity, shipped, released)
        SELECT l.order_id, l.id, l.product_id, {warehouse_sql("l.order_id", warehouse_ids)},
               CASE WHEN o.status = 'cancelled' THEN 0 ELSE l.quantity - l.shipped_quantity END,
               l.shipped_quantity,
               CASE WHEN o.status = 'cancelled' THEN l.quantity - l.shipped_quantity ELSE 0 END
        FROM {line} l JOIN {order} o ON o.id = l.order_id ORDER BY l.id""")
    # Timeline: "placed" for every order, then the change into its current status.
    cursor.execute(f"""
        INSERT INTO {event} (order_id, kind, from_status, to_status, transition, actor_id, text, data, internal,
                             created_at)
        SELECT o.id, 'status', '', 'placed', 'place', NULL, 'Order placed', '{{}}', false, o.placed_at
        FROM {order} o ORDER BY o.id""")
    cursor.execute(f"""
        INSERT INTO {event} (order_id, kind, from_status, to_status, transition, actor_id, text, data, internal,
                             created_at)
        SELECT o.id, 'status',
               CASE WHEN o.status IN ('placed', 'confirmed', 'on_hold', 'cancelled') THEN 'placed'
                    ELSE 'packed' END,
               o.status,
               CASE o.status WHEN 'confirmed' THEN 'confirm' WHEN 'processing' THEN 'start_processing'
                    WHEN 'packed' THEN 'pack' WHEN 'partially_shipped' THEN 'ship_partially'
                    WHEN 'shipped' THEN 'ship' WHEN 'delivered' THEN 'deliver' WHEN 'on_hold' THEN 'hold'
                    ELSE 'cancel' END,
               %s, CASE WHEN o.status IN ('on_hold', 'cancelled') THEN 'Customer asked' ELSE '' END, '{{}}', false,
               o.updated_at
        FROM {order} o WHERE o.status <> 'placed' ORDER BY o.id""", [admin_id])
    # Stock levels carry what the open allocations reserve; the ledger explains both totals.
    cursor.execute(f"""
        UPDATE {level} s SET allocated = a.reserved, on_hand = s.on_hand + a.reserved
        FROM (SELECT product_id, warehouse_id, sum(quantity) AS reserved FROM {alloc} GROUP BY 1, 2) a
        WHERE s.product_id = a.product_id AND s.warehouse_id = a.warehouse_id""")
    cursor.execute(f"""
        INSERT INTO {movement} (kind, product_id, warehouse_id, quantity, on_hand_delta, allocated_delta, reason,
                                created_at, reference_label)
        SELECT 'receipt', product_id, warehouse_id, on_hand, on_hand, 0, 'opening balance', now(), ''
        FROM {level} WHERE on_hand > 0
        UNION ALL
        SELECT 'allocation', product_id, warehouse_id, allocated, 0, allocated, 'open orders at seed', now(), ''
        FROM {level} WHERE allocated > 0""")
    derive_returns(cursor)
    derive_parcels(cursor, warehouse_ids=warehouse_ids, admin_id=admin_id)
    for table, column in ((order, "id"), (line, "id"), (alloc, "id"), (event, "id"), (movement, "id"),
                          (ReturnRequest._meta.db_table, "id"), (ReturnLine._meta.db_table, "id"),
                          (Refund._meta.db_table, "id"), *((model._meta.db_table, "id") for model in PARCEL_MODELS)):
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                       f"(SELECT coalesce(max({column}), 1) FROM {table}))")


RETURN_EVERY = 50  # one delivered order in 50 has a return or claim


def derive_returns(cursor) -> None:
    """Returns and claims on one delivered order in RETURN_EVERY (2 %), in every state, each naming the order's
    first line; the lines count the claimed unit as the returns service would."""
    order, line = Order._meta.db_table, OrderLine._meta.db_table
    rr, rl = ReturnRequest._meta.db_table, ReturnLine._meta.db_table
    statuses = "ARRAY[" + ", ".join(f"'{s}'" for s in ReturnRequest.Status.values) + "]"
    reasons = "ARRAY[" + ", ".join(f"'{r}'" for r in Reason.values) + "]"
    cursor.execute(f"""
        INSERT INTO {rr} (id, number, order_id, customer_id, email, status, resolution, handling, channel,
                          customer_note, decision, created_at, updated_at)
        SELECT o.id, 'RT' || substr(o.number, 3), o.id, o.customer_id, o.email,
               ({statuses})[1 + o.id % {len(ReturnRequest.Status.values)}],
               CASE WHEN o.id % 3 = 0 THEN 'replacement' ELSE 'refund' END, 'return', 'portal', '', '',
               least(o.updated_at + interval '3 days', now()), least(o.updated_at + interval '4 days', now())
        FROM {order} o WHERE o.status = 'delivered' AND o.id % {RETURN_EVERY} = 0 ORDER BY o.id""")
    cursor.execute(f"""
        INSERT INTO {rl} (return_request_id, order_line_id, quantity, reason, description, disposition,
                          inspection_note)
        SELECT r.id, first_line.id, 1, ({reasons})[1 + r.id % {len(Reason.values)}], '', '', ''
        FROM {rr} r JOIN (SELECT order_id, min(id) AS id FROM {line} GROUP BY order_id) first_line
             ON first_line.order_id = r.order_id
        ORDER BY r.id""")
    cursor.execute(f"""
        UPDATE {line} l SET returned_quantity = 1 FROM {rl} x JOIN {rr} r ON r.id = x.return_request_id
        WHERE l.id = x.order_line_id AND r.status NOT IN ('rejected', 'cancelled')""")


PARCEL_MODELS = (Shipment, ShipmentLine, ShipmentEvent, Unit, UnitEvent, ShipmentUnit)


def derive_parcels(cursor, *, warehouse_ids: list[int], admin_id: int) -> None:
    """One parcel per order that left (shipped, delivered, or the first line of a partially shipped one), numbered
    as the order (shipment id = order id, shipment line id = order line id), from the order's warehouse with one of
    the carriers: a tracking number, a label, handed over 4 to 76 hours after the order (a pick-up scan), delivered
    12 to 108 hours later (a delivery scan); 3 % of the parcels still moving had a delivery exception.
    Serial-tracked units get a serial, packed and shipped with it. Returns resolved or closed with a refund get
    their Refund (the first line's price), and their orders the refunded total."""
    order, line = Order._meta.db_table, OrderLine._meta.db_table
    shipment, sline, sevent = Shipment._meta.db_table, ShipmentLine._meta.db_table, ShipmentEvent._meta.db_table
    unit, uevent, sunit = Unit._meta.db_table, UnitEvent._meta.db_table, ShipmentUnit._meta.db_table
    left = "o.status IN ('shipped', 'delivered', 'partially_shipped')"
    carriers = list(Carrier.objects.order_by("pk").values_list("pk", "transit_days"))
    carrier = "CASE o.id % {n} {cases} END".format(
        n=len(carriers), cases=" ".join(f"WHEN {i} THEN {pk}" for i, (pk, _) in enumerate(carriers)))
    transit = "CASE o.id % {n} {cases} END".format(
        n=len(carriers), cases=" ".join(f"WHEN {i} THEN {days}" for i, (_, days) in enumerate(carriers)))
    shipped = "least(o.placed_at + (4 + o.id % 73) * interval '1 hour', now())"
    delivered = ("least(o.placed_at + (4 + o.id % 73) * interval '1 hour' + (12 + o.id * 7 % 97) * interval '1 hour', "
                 "now())")
    labelled = "least(o.placed_at + (2 + o.id % 73) * interval '1 hour', now())"
    cursor.execute(f"""
        INSERT INTO {shipment} (id, order_id, direction, warehouse_id, carrier_id, tracking_number, status,
                                exception_reason, expected_delivery, created_by_id, created_at, updated_at,
                                label_created_at, shipped_at, delivered_at, last_scan_at, status_changed_at,
                                parcel_size)
        SELECT o.id, o.id, 'outbound', {warehouse_sql("o.id", warehouse_ids)}, {carrier},
               'WBL' || lpad(o.id::text, 10, '0'),
               CASE WHEN o.status = 'delivered' THEN 'delivered' WHEN o.id % 33 = 0 THEN 'exception'
                    ELSE 'in_transit' END,
               CASE WHEN o.status <> 'delivered' AND o.id % 33 = 0 THEN 'failed_attempt' ELSE '' END,
               ({shipped})::date + {transit}, {int(admin_id)}, o.placed_at, greatest(o.updated_at, {shipped}),
               {labelled}, {shipped},
               CASE WHEN o.status = 'delivered' THEN {delivered} END,
               CASE WHEN o.status = 'delivered' THEN {delivered} ELSE {shipped} END,
               CASE WHEN o.status = 'delivered' THEN {delivered} ELSE {shipped} END,
               ''
        FROM {order} o WHERE {left} ORDER BY o.id""")
    cursor.execute(f"""
        INSERT INTO {sline} (id, shipment_id, order_line_id, quantity)
        SELECT l.id, l.order_id, l.id, l.shipped_quantity FROM {line} l
        WHERE l.shipped_quantity > 0 ORDER BY l.id""")
    cursor.execute(f"""
        INSERT INTO {sevent} (shipment_id, source, from_status, to_status, reported_status, carrier_id,
                              carrier_event_id, carrier_status_code, location, description, occurred_at, actor_id,
                              created_at)
        SELECT s.id, 'staff', 'packed', 'label_created', '', NULL, '', '', '', '', s.label_created_at, %(admin)s,
               s.label_created_at
        FROM {shipment} s
        UNION ALL
        SELECT s.id, 'carrier', 'label_created', 'in_transit', 'in_transit', s.carrier_id, '', 'PICKUP',
               o.ship_city, 'Picked up by the courier', s.shipped_at, NULL, s.shipped_at
        FROM {shipment} s JOIN {order} o ON o.id = s.order_id
        UNION ALL
        SELECT s.id, 'carrier', 'in_transit', 'delivered', 'delivered', s.carrier_id, '', 'DELIVERED',
               o.ship_city, 'Delivered to the recipient', s.delivered_at, NULL, s.delivered_at
        FROM {shipment} s JOIN {order} o ON o.id = s.order_id WHERE s.status = 'delivered'""",
        {"admin": admin_id})
    # serial numbers: SN + the line id + the unit's place on the line, so a serial names its line
    cursor.execute(f"""
        INSERT INTO {unit} (product_id, serial, status, warehouse_id, batch, created_at, updated_at)
        SELECT l.product_id, 'SN' || lpad(l.id::text, 9, '0') || lpad(g.n::text, 2, '0'), 'with_customer', NULL,
               '', o.placed_at, o.updated_at
        FROM {line} l JOIN {order} o ON o.id = l.order_id
             CROSS JOIN LATERAL generate_series(1, l.shipped_quantity) AS g(n)
        WHERE l.product_id IN (SELECT id FROM {Product._meta.db_table} WHERE serial_tracked) AND l.shipped_quantity > 0
        ORDER BY l.id, g.n""")
    cursor.execute(f"""
        INSERT INTO {sunit} (shipment_id, line_id, unit_id)
        SELECT l.order_id, l.id, u.id FROM {unit} u JOIN {line} l ON l.id = substr(u.serial, 3, 9)::bigint
        ORDER BY u.id""")
    cursor.execute(f"""
        INSERT INTO {uevent} (unit_id, kind, status, order_number, replacement, text, reference_id, reference_label,
                              created_at, warehouse_id)
        SELECT u.id, 'shipped', 'with_customer', o.number, false, '', s.id, 'shipment ' || s.id, s.shipped_at,
               s.warehouse_id
        FROM {unit} u JOIN {sunit} su ON su.unit_id = u.id JOIN {shipment} s ON s.id = su.shipment_id
             JOIN {order} o ON o.id = s.order_id
        ORDER BY u.id""")
    refund, rr, rl = Refund._meta.db_table, ReturnRequest._meta.db_table, ReturnLine._meta.db_table
    cursor.execute(f"""
        INSERT INTO {refund} (order_id, return_request_id, items_amount, shipping_amount, amount, currency, reason,
                              provider_reference, idempotency_key, fingerprint, created_at)
        SELECT r.order_id, r.id, l.unit_price, 0, l.unit_price, 'EUR', 'Return ' || r.number, '', '', '',
               r.updated_at
        FROM {rr} r JOIN {rl} x ON x.return_request_id = r.id JOIN {line} l ON l.id = x.order_line_id
             JOIN {order} o ON o.id = r.order_id
        WHERE r.status IN ('resolved', 'closed') AND r.resolution = 'refund' AND o.amount_paid > 0
        ORDER BY r.id""")
    cursor.execute(f"""
        UPDATE {order} o SET refunded_total = f.amount,
               payment_status = CASE WHEN f.amount >= o.total THEN 'refunded' ELSE 'partially_refunded' END
        FROM (SELECT order_id, sum(amount) AS amount FROM {refund} GROUP BY order_id) f WHERE f.order_id = o.id""")


def build_rollups() -> float:
    """The analytics dashboard's rollup tables, from scratch (the same statements as its periodic refresh)."""
    from analytics.rollups import ROLLUP_MODELS, rollups_rebuild

    started = time.perf_counter()
    rollups_rebuild()
    with connection.cursor() as cursor:
        for model in ROLLUP_MODELS:
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    return time.perf_counter() - started


def check(cursor) -> None:
    """The seed must satisfy what the models promise (foreign keys are checked here: the load skipped them)."""
    order, line, alloc = Order._meta.db_table, OrderLine._meta.db_table, Allocation._meta.db_table
    user = get_user_model()._meta.db_table
    problems = {
        "lines without order": f"SELECT count(*) FROM {line} l LEFT JOIN {order} o ON o.id = l.order_id "
                               "WHERE o.id IS NULL",
        "orders with unknown customer": f"SELECT count(*) FROM {order} o LEFT JOIN {user} u ON u.id = o.customer_id "
                                        "WHERE o.customer_id IS NOT NULL AND u.id IS NULL",
        "orders without lines": f"SELECT count(*) FROM {order} o WHERE NOT EXISTS "
                                f"(SELECT 1 FROM {line} l WHERE l.order_id = o.id)",
        "allocations not matching lines": f"SELECT count(*) FROM {alloc} a JOIN {line} l ON l.id = a.line_id "
                                          "WHERE a.quantity + a.shipped + a.released <> l.quantity",
        "subtotal not the sum of lines": f"SELECT count(*) FROM {order} o JOIN (SELECT order_id, sum(line_total) s "
                                         f"FROM {line} GROUP BY 1) t ON t.order_id = o.id WHERE t.s <> o.subtotal",
        "shipped units not in a parcel": (
            f"SELECT count(*) FROM {line} l LEFT JOIN {ShipmentLine._meta.db_table} s ON s.order_line_id = l.id "
            "WHERE l.shipped_quantity <> coalesce(s.quantity, 0)"),
        "shipped serial-tracked units without a serial": (
            f"SELECT count(*) FROM {line} l JOIN {Product._meta.db_table} p ON p.id = l.product_id "
            f"AND p.serial_tracked WHERE l.shipped_quantity <> "
            f"(SELECT count(*) FROM {ShipmentUnit._meta.db_table} u WHERE u.line_id = l.id)"),
    }
    for what, query in problems.items():
        cursor.execute(query)
        bad = cursor.fetchone()[0]
        if bad:
            raise SystemExit(f"seed check failed: {bad} {what}")


def main(version: str) -> None:
    t0 = time.perf_counter()
    now = timezone.now()
    tables = [Order._meta.db_table, OrderLine._meta.db_table, Allocation._meta.db_table, OrderEvent._meta.db_table,
              Refund._meta.db_table, *(model._meta.db_table for model in PARCEL_MODELS)]
    with transaction.atomic():
        admin, warehouses, products = seed_catalogue()
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        indexes = _secondary_indexes(tables)
        with raw.transaction():
            cursor.execute("SET LOCAL session_replication_role = replica")  # skip FK triggers; check() verifies
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            customers = copy_customers(cursor, now)
            t1 = time.perf_counter()
            summary = copy_orders(cursor, customers=customers, products=products, now=now)
            t2 = time.perf_counter()
            derive_rows(cursor, warehouse_ids=[w.pk for w in warehouses], admin_id=admin.pk)
        t3 = time.perf_counter()
        for _, definition in indexes:
            cursor.execute(definition)
        t4 = time.perf_counter()
        check(cursor)
        cursor.execute("VACUUM ANALYZE")
        t5 = time.perf_counter()
    rollups = build_rollups()
    with raw.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_seed (version text, orders integer, seeded_at timestamptz)")
        cursor.execute("INSERT INTO bench_seed VALUES (%s, %s, now())", [version, ORDERS])
    t6 = time.perf_counter()
    print(f"seeded {summary['orders']:,} orders, {summary['lines']:,} lines in {t6 - t0:.0f} s "
          f"(copy {t2 - t1:.0f} s, derive {t3 - t2:.0f} s, indexes {t4 - t3:.0f} s, check+vacuum {t5 - t4:.0f} s, "
          f"analytics rollups {rollups:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dev")
