"""Capture the SQL of one order placement and turn it into a pgbench script.

The placement runs under CaptureQueriesContext (the statements as Django sent them, with BEGIN and COMMIT
where they happened) and an execute wrapper (each statement with its parameters, so values are swapped one by
one). Values that identify the order being placed become pgbench expressions:

- the three products (and their SKUs and stock levels) become `\\set` random variables from three disjoint
  ranges, so the lines of one transaction never repeat a product and stock rows are still locked in pk order;
- the id of every row that was the only one inserted in its table (the order, its timeline entry, its outbox
  message...) becomes `currval()` of that table's sequence, also where it appears inside a string; a line id
  becomes a lookup of that order's line;
- the order number, idempotency key, claim token, fingerprint and UUIDs become fresh random values;

Everything else (timestamps, prices, quantities, names) stays as captured. The script runs with the protocol the
application's connections use: `-M prepared` with prepared statements (DATABASE_PREPARED_STATEMENTS, the default),
`-M simple` with psycopg's client-side binding.
"""

from __future__ import annotations

import json
import random
import re
import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import sql as pgsql

from inventory.models import Product, StockLevel
from orders.models import OrderLine

from . import load

# One product from each third of the catalogue, so \set p1 < p2 < p3 holds in the script as it did here.
CAPTURE_SKUS = (200, 500, 800)
RANGES = ((1, 333), (334, 666), (667, 1000))
CAPTURE_QUANTITIES = (1, 2, 1)


def _level_id_formula() -> dict[int, int]:
    """Stock level ids are (product - 1) * warehouses + position of the warehouse: checked, not assumed."""
    warehouses = sorted(set(StockLevel.objects.filter(product_id__lte=1000).values_list("warehouse_id", flat=True)))
    ids = dict.fromkeys(warehouses)
    for position, pk in enumerate(warehouses, start=1):
        ids[pk] = position
    wrong = [
        level for level in StockLevel.objects.filter(product_id__lte=1000).values("pk", "product_id", "warehouse_id")
        if level["pk"] != (level["product_id"] - 1) * len(warehouses) + ids[level["warehouse_id"]]
    ]
    skus_ok = all(p.sku == f"SKU-{p.pk:05d}" for p in Product.objects.filter(pk__lte=1000))
    if wrong or not skus_ok:
        raise RuntimeError("the seeded catalogue does not have the id layout the pgbench script relies on")
    return ids


def capture(*, lines: int | None = None, customer=None):
    """Place one order and return (queries as captured, [(sql, params)])."""
    customer = customer or load._customer(90)
    statements = []

    def wrapper(execute, sql, params, many, context):
        statements.append((sql, params, many))
        return execute(sql, params, many, context)

    if lines is None:
        body = [{"sku": f"SKU-{k:05d}", "quantity": q} for k, q in zip(CAPTURE_SKUS, CAPTURE_QUANTITIES, strict=True)]
    else:
        body = load.random_lines(random.Random(lines), count=lines)
    with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(wrapper):
        order, _ = load.place(customer, body)
    return ctx.captured_queries, statements, order


def _sequences() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT schemaname || '.' || sequencename, coalesce(last_value, 0) FROM pg_sequences "
                       "ORDER BY 1")
        return dict(cursor.fetchall())


def _spread_sequences() -> None:
    """Move every sequence to its own range (n * 10,000,000), so a new id can never equal another value."""
    with connection.cursor() as cursor:
        for i, (name, last) in enumerate(_sequences().items(), start=1):
            if last < i * 10_000_000:
                cursor.execute("SELECT setval(%s, %s)", [name, i * 10_000_000])


def pgbench_script() -> tuple[str, int, list[str]]:
    """Returns (script text, statements per transaction, the captured SQL as Django ran it)."""
    positions = _level_id_formula()
    n_warehouses = len(positions)
    customer = load._customer(90)
    load.place(customer, load.random_lines(random.Random(1)))  # warm caches (content types, connection)
    _spread_sequences()
    before = _sequences()
    captured, statements, order = capture(customer=customer)
    after = _sequences()

    subst: dict[object, str] = {}
    embedded: dict[int, str] = {}  # ids that also appear inside strings ("order-event:123")
    for name, last in after.items():
        if last - before.get(name, 0) == 1:  # one row inserted: its id is currval() of that sequence
            subst[last] = embedded[last] = f"(SELECT currval('{name}'))"  # an InitPlan: indexes stay usable
    for k, pid in enumerate(CAPTURE_SKUS, start=1):
        var = f":p{k}"
        subst[pid] = var
        subst[f"SKU-{pid:05d}"] = f"('SKU-' || lpad(({var})::text, 5, '0'))"
        for position in positions.values():
            level_id = (pid - 1) * n_warehouses + position
            subst[level_id] = f"(({var} - 1) * {n_warehouses} + {position})"
    order_id = subst[order.pk]
    for line in OrderLine.objects.filter(order=order):
        subst[line.pk] = (f"(SELECT id FROM {OrderLine._meta.db_table} WHERE order_id = {order_id} "
                          f"AND product_id = {subst[line.product_id]})")
    subst[order.number] = "('WB-' || substr(md5(random()::text), 1, 16))"

    raw = connection.connection
    out = [f"\\set p{k} random({lo}, {hi})" for k, (lo, hi) in enumerate(RANGES, start=1)]
    out.append("\\set rk random(1, 2000000000)")
    if sum(q["sql"] not in ("BEGIN", "COMMIT", "ROLLBACK") for q in captured) != len(statements):
        raise RuntimeError("captured queries and executed statements do not line up")
    pending = iter(statements)
    for query in captured:
        if query["sql"] in ("BEGIN", "COMMIT", "ROLLBACK"):
            out.append(query["sql"] + ";")
            continue
        sql, params, many = next(pending)
        if many:
            raise RuntimeError("executemany in order placement: not supported by the script builder")
        out.append(_typed(_render(sql, params or (), subst, embedded, raw)) + ";")
    return "\n".join(out) + "\n", len(statements), [q["sql"] for q in captured]


VARIABLE = re.compile(r":(p\d|rk|client_id)\b")


def _typed(sql: str) -> str:
    """Each pgbench variable as a bigint: with `-M prepared` a variable is a parameter, whose type PostgreSQL must
    know (in arithmetic or ARRAY[...] it cannot guess it); with `-M simple` the cast changes nothing."""
    return VARIABLE.sub(r"(:\1)::bigint", sql)


HEX = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{64}$")
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _json_rows(v) -> list | None:
    """The rows config.cte sends as one JSON parameter ([[value, ...], ...]), or None."""
    if not (isinstance(v, str) and v.startswith("[[")):
        return None
    try:
        rows = json.loads(v)
    except ValueError:
        return None
    return rows if isinstance(rows, list) and all(isinstance(row, list) for row in rows) else None


def _render(sql: str, params, subst: dict, embedded: dict, raw) -> str:
    values = iter(params)

    def one(v) -> str | None:
        if isinstance(v, bool) or v is None:
            return None
        if isinstance(v, uuid.UUID):
            return "gen_random_uuid()"
        if isinstance(v, int | str) and v in subst:
            return subst[v]
        if isinstance(v, str) and embedded:
            parts = re.split(r"(?<!\d)(" + "|".join(str(i) for i in embedded) + r")(?!\d)", v)
            if len(parts) > 1:
                return "(" + " || ".join(
                    f"({embedded[int(part)]})::text" if i % 2 else pgsql.Literal(part).as_string(raw)
                    for i, part in enumerate(parts) if part or i % 2
                ) + ")"
        if isinstance(v, str) and HEX.match(v):
            # idempotency key, claim token, fingerprint: fresh per transaction; the key is the same in the
            # INSERT and the SELECT that reads the claim back.
            reps = len(v) // 32
            return "(" + " || ".join(["md5(:client_id::text || '-' || :rk::text)"] * reps) + ")"
        return None

    def json_text(rows: list) -> str:
        """The JSON text as sent, literal except for the values swapped (each JSON-encoded by to_json())."""
        parts: list[str] = []  # JSON text, or an SQL expression (marked by a leading NUL) for a swapped value
        for r, row in enumerate(rows):
            parts.append("," if r else "[")
            for i, v in enumerate(row):
                parts.append("," if i else "[")
                swapped = "gen_random_uuid()" if isinstance(v, str) and UUID_TEXT.match(v) else one(v)
                parts.append(f"\0to_json({swapped})::text" if swapped else json.dumps(v, ensure_ascii=False,
                                                                                      separators=(",", ":")))
            parts.append("]")
        parts.append("]")
        out, literal = [], ""
        for part in parts:
            if part.startswith("\0"):
                if literal:
                    out.append(pgsql.Literal(literal).as_string(raw))
                    literal = ""
                out.append(part[1:])
            else:
                literal += part
        if literal:
            out.append(pgsql.Literal(literal).as_string(raw))
        return "(" + " || ".join(out) + ")"

    def value(match: re.Match) -> str:
        if match.group(0) == "%%":
            return "%"
        v = next(values)
        rows = _json_rows(v)
        if rows is not None:  # each value swapped as above, in the JSON text as the application sends it
            return json_text(rows)
        if isinstance(v, list | tuple):  # bulk_create sends each column as one array (INSERT ... UNNEST)
            swapped = [one(item) for item in v]
            if any(swapped):
                items = [s or pgsql.Literal(item).as_string(raw) for s, item in zip(swapped, v, strict=True)]
                return "ARRAY[" + ", ".join(items) + "]"
            return pgsql.Literal(v).as_string(raw)
        return one(v) or pgsql.Literal(v).as_string(raw)

    text = re.sub(r"%s|%%", value, sql)
    return " ".join(text.split())
