"""Rows of several tables written by one statement: PostgreSQL's data-modifying CTEs.

    order = Rows("o", Order, [order])
    lines = Rows("l", OrderLine, lines, sql_for={"order_id": "(SELECT id FROM o)"}, returning=("id", "product_id"))
    insert_together(order, lines)           # one round trip; order.pk and each line's pk are set

Each `Rows` is `INSERT INTO table (...) SELECT ... FROM json_array_elements(%s::json)`: one statement and one
parameter whatever the number of rows, so the statement's text is the same for 1 line and for 200 and the driver
binds one value instead of hundreds (its client-side binding costs Python time per value). Values are prepared
exactly as `bulk_create()` prepares them (`pre_save()`, so `auto_now_add` timestamps are set on the objects, then
`get_db_prep_save()`), then written as JSON text that PostgreSQL reads back with each column type's own input
function (`'59.70'::numeric`, `'2026-01-31T09:00:00.123456+00:00'::timestamptz`), as it reads a literal.

A column named in `sql_for` takes an SQL expression instead, which may read the earlier CTEs of the statement
(an id just inserted) and the row's own values as `v.<column>`. As with `bulk_create()` no signal is sent, unless
`signals=True` (for rows that used to be written by `save()`: pre_save and post_save, as `save()` sends them).

The text of each kind of INSERT is built once per process and kept (`_shape`); only values are prepared per call.
PostgreSQL only: callers keep their ORM path for other databases (`supported()`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import functools
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import AutoField
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from psycopg.types.json import Jsonb


def supported() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def _answer_sql(returning: tuple[str, ...]) -> str:
    """What a statement answers for a CTE's rows ("{name}" left to fill in): each returned column as an array, in
    the order of the first."""
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    first = qn(returning[0])
    return ", ".join(f"(SELECT array_agg({qn(c)} ORDER BY {first}) FROM {{name}})" for c in returning)


@functools.cache
def _shape(model, sql_for: tuple[tuple[str, str], ...], returning: tuple[str, ...], on_conflict: str, where: str):
    """(fields given as values, relations given as SQL, the INSERT's text, what the statement answers for it)."""
    conn = connections[DEFAULT_DB_ALIAS]
    qn = conn.ops.quote_name
    opts = model._meta
    expressions = dict(sql_for)
    fields = [f for f in opts.concrete_fields if not f.generated and not isinstance(f, AutoField)]
    unknown = set(expressions) - {f.attname for f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
    given = [f for f in fields if f.attname not in expressions]
    related = [f for f in fields if f.attname in expressions and f.is_relation]
    for f in given:
        if hasattr(f, "get_placeholder"):
            raise ValueError(f"{model.__name__}.{f.name} has its own placeholder: write it with the ORM")
    # each value cast to its column's type, without length or precision (nothing is cut: the column checks)
    values = ", ".join(f"(r->>{i})::{f.db_type(conn).split('(')[0]} AS {qn(f.column)}" for i, f in enumerate(given))
    select = ", ".join(expressions[f.attname] if f.attname in expressions else f"v.{qn(f.column)}" for f in fields)
    sql = (f"INSERT INTO {qn(opts.db_table)} ({', '.join(qn(f.column) for f in fields)}) SELECT {select} "
           f"FROM (SELECT {values} FROM json_array_elements(%s::json) AS r) AS v"
           + (f" WHERE {where}" if where else "") + (f" {on_conflict}" if on_conflict else "")
           + f" RETURNING {', '.join(qn(c) for c in returning)}")
    answer = _answer_sql(returning)
    # Django's own plain fields (not subclasses) prepare a value of their own type (a str for a CharField, an int
    # for an IntegerField or a foreign key to an integer id, a bool for a BooleanField) as the value itself: it is
    # taken as it is. Any other value, and every other field, goes through pre_save() and get_db_prep_save().
    plain = [_PLAIN_FIELDS.get(type(f)) for f in given]
    for i, f in enumerate(given):
        if f.is_relation and type(f.target_field) not in (AutoField, models.BigAutoField):
            plain[i] = None
    return given, related, sql, answer, plain


_PLAIN_FIELDS = {
    **dict.fromkeys((models.CharField, models.TextField, models.EmailField, models.SlugField), str),
    **dict.fromkeys((models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
                     models.PositiveIntegerField, models.PositiveBigIntegerField, models.PositiveSmallIntegerField,
                     models.ForeignKey, models.OneToOneField), int),
    models.BooleanField: bool,
}


def _json_value(value):
    if isinstance(value, Decimal):
        return str(value)  # exactly its digits ("59.70"), as numeric reads them
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # every digit of the microseconds, and the offset
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Jsonb):
        return (value.dumps or json.dumps)(value.obj)  # the JSON field's own encoding, read back as jsonb
    raise TypeError(f"insert_together() cannot write {type(value).__name__} values")


_rows_json = json.JSONEncoder(default=_json_value, ensure_ascii=False, check_circular=False,
                              separators=(",", ":")).encode


def _value_rows(given, plain, values: Sequence[dict], conn) -> list[list]:
    """Rows given as dicts, prepared as an INSERT prepares the values of an instance built from them."""
    unknown = set().union(*values) - {f.attname for f in given}
    if unknown:
        raise ValueError(f"no column {', '.join(sorted(unknown))} to give a value to")
    now = None
    rows = []
    for row_values in values:
        row = []
        for f, kind in zip(given, plain, strict=True):
            if f.attname in row_values:
                value = row_values[f.attname]
                if kind is not None and type(value) is kind:
                    row.append(value)
                    continue
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                now = now or timezone.now()
                value = now if isinstance(f, models.DateTimeField) else datetime.date.today()  # as pre_save()
            else:
                value = f.get_default()
            row.append(_prepared(f, value, conn))
        rows.append(row)
    return rows


def _prepared(field, value, conn):
    """`value` as an INSERT sends it for `field` (SQLInsertCompiler.prepare_value, without expressions)."""
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"insert_together() cannot write an expression ({field.name}={value!r})")
    return field.get_db_prep_save(value, connection=conn)


def _link(obj, related) -> None:
    """Set each foreign key given as SQL from the (now saved) object it was assigned, as save() would."""
    for field in related:
        if field.is_cached(obj):
            target = field.get_cached_value(obj)
            if target is not None:
                if target.pk is None:
                    raise ValueError(f"insert_together() prohibited to prevent data loss due to unsaved related "
                                     f"object '{field.name}'.")
                if field.one_to_one:
                    setattr(obj, field.name, target)  # the descriptor also caches the reverse side
                else:  # the key only: the descriptor's checks were made when the object was assigned
                    obj.__dict__[field.attname] = getattr(target, field.target_field.attname)


class _Modifying:
    """A data-modifying CTE of a statement: `sql` (ending in RETURNING `returning`) and `params`, answered as
    arrays of its returned columns."""

    name: str
    sql: str
    params: list
    returning: tuple[str, ...]
    _answer_sql: str

    def rename(self, name: str) -> None:
        """Another name for this CTE (two riders of one statement may have been given the same one)."""
        self.name, self._answer = name, self._answer_sql.format(name=name)

    def cte(self) -> str:
        return f"{self.name} AS ({self.sql})"

    def select(self) -> str:
        """What the statement answers for these rows: their returned columns as arrays, in insertion order."""
        return self._answer

    def written(self, values: Sequence[list | None]) -> list[tuple]:
        """The returned rows, one tuple per row written."""
        return list(zip(*[v or [] for v in values], strict=True))


class Rows(_Modifying):
    """One INSERT of a data-modifying CTE named `name`."""

    def __init__(self, name: str, model, objs: Sequence = (), *, values: Sequence[dict] | None = None,
                 sql_for: dict[str, str] | None = None, returning: Sequence[str] = ("id",), on_conflict: str = "",
                 where: str = "", signals: bool = False):
        """`objs`: model instances, which get their primary keys once written. Or `values`: rows as dicts of
        attname to value (relations by id), for rows nothing reads back: no instance is built; a column left out
        takes its field's default (now, for auto_now and auto_now_add)."""
        if not objs and not values:
            raise ValueError("Rows() needs at least one row")
        if objs and values:
            raise ValueError("Rows() takes objects or values, not both")
        self.model, self.objs = model, list(objs)
        self.returning, self.signals = tuple(returning), signals and not values
        given, self._related, self.sql, self._answer_sql, plain = _shape(
            model, tuple(sorted((sql_for or {}).items())), self.returning, on_conflict, where)
        self.rename(name)
        conn = connections[DEFAULT_DB_ALIAS]
        self._alias = conn.alias
        if values:
            self.params = [_rows_json(_value_rows(given, plain, values, conn))]
            return
        if signals:
            for obj in self.objs:
                pre_save.send(sender=model, instance=obj, raw=False, using=self._alias, update_fields=None)
        pk = model._meta.pk
        if pk.has_default():
            for obj in self.objs:
                if obj.pk is None:
                    obj.pk = pk.get_pk_value_on_save(obj)
        relations = [f for f in given if f.is_relation]
        for obj in self.objs:
            for field in relations:  # an object assigned to a foreign key must be saved (what save() checks)
                if field.is_cached(obj):
                    target = field.get_cached_value(obj)
                    if target is not None and target.pk is None:
                        raise ValueError(f"insert_together() prohibited to prevent data loss due to unsaved related "
                                         f"object '{field.name}'.")
        spec = [(f, f.attname, kind) for f, kind in zip(given, plain, strict=True)]
        rows = []
        for obj in self.objs:
            row, values_of = [], obj.__dict__
            for f, attname, kind in spec:
                value = values_of.get(attname)
                if kind is not None and (type(value) is kind or value is None):  # a plain field's None is NULL
                    row.append(value)
                    continue
                row.append(_prepared(f, f.pre_save(obj, add=True), conn))  # as an INSERT prepares it
            rows.append(row)
        self.params = [_rows_json(rows)]

    def written(self, values: Sequence[list | None]) -> list[tuple]:
        """The returned rows (one tuple per row written); the objects get their primary keys when every row was
        written (ON CONFLICT DO NOTHING may write fewer)."""
        rows = super().written(values)
        if len(rows) == len(self.objs) and self.returning[0] == "id":
            for obj, row in zip(self.objs, rows, strict=True):
                obj.pk = row[0]
                obj._state.adding, obj._state.db = False, self._alias
                if self._related:
                    _link(obj, self._related)
                if self.signals:
                    post_save.send(sender=self.model, instance=obj, created=True, update_fields=None, raw=False,
                                   using=self._alias)
        return rows


class Changed(_Modifying):
    """Another data-modifying CTE (an UPDATE, a DELETE) that may ride with `insert_soon()`: its SQL, which ends in
    RETURNING `returning`, and its parameters."""

    def __init__(self, name: str, sql: str, params: Sequence, *, returning: Sequence[str] = ("id",)):
        self.sql, self.params, self.returning = sql, list(params), tuple(returning)
        self._answer_sql = _answer_sql(self.returning)
        self.rename(name)


_riders: contextvars.ContextVar[list[Rows | Changed] | None] = contextvars.ContextVar("waybill_cte_riders",
                                                                                     default=None)


@contextlib.contextmanager
def riding():
    """Within this block, rows given to `insert_soon()` are written by the next `insert_together()` statement, as
    more CTEs of it, instead of by a statement of their own; whatever is left is written when the block ends.

    For a caller that knows another statement follows (the order placement: its outbox row rides on the stock
    statement). Nothing reads them in between: inside the block they are written, but not yet visible."""
    token = _riders.set([])
    try:
        yield
        flush_riders()
    finally:
        _riders.reset(token)


def flush_riders() -> None:
    """Write now the rows waiting in a `riding()` block (before reading their table)."""
    left = _riders.get()
    if left:
        _riders.set([])
        insert_together(*left)


def insert_soon(rows: Rows | Changed) -> None:
    """Write `rows` with the next statement of a `riding()` block, or at once outside one. Their objects get their
    primary keys when the rows are written; the rows must not read the other CTEs of the statement they ride on."""
    pending = _riders.get()
    if pending is None:
        insert_together(rows)
    else:
        rows.rename(f"ride{len(pending)}_{rows.name}")  # riders never clash with each other
        pending.append(rows)


def insert_together(*rows: Rows | Changed, prefix: tuple[str, Sequence] | None = None,
                    select: tuple[str, Sequence] | None = None) -> tuple[dict[str, list[tuple]], tuple]:
    """Run the INSERTs as one statement. Returns each one's rows written, by name, and the values of `select`.

    `prefix` is more CTEs (their SQL without the WITH, and their parameters) that the INSERTs may read; `select`
    more columns for the statement to answer (SQL and parameters). Rows waiting in a `riding()` block ride along
    (after `select`'s columns, so the caller's answer is the same)."""
    riders = _riders.get()
    if riders:
        _riders.set([])
        names = {r.name for r in rows}
        for rider in riders:
            if rider.name in names:
                raise ValueError(f"two CTEs named {rider.name!r} in one statement")
    ctes, params = [], []
    if prefix:
        ctes.append(prefix[0])
        params += list(prefix[1])
    for r in (*rows, *(riders or ())):
        ctes.append(r.cte())
        params += r.params
    columns = [r.select() for r in rows]
    if select:
        columns.append(select[0])
        params += list(select[1])
    columns += [r.select() for r in riders or ()]
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}", params)
        answer = cursor.fetchone()
    out, at = {}, 0
    for r in rows:
        out[r.name] = r.written(answer[at:at + len(r.returning)])
        at += len(r.returning)
    end = len(answer) - sum(len(rider.returning) for rider in riders or ())
    selected, at = tuple(answer[at:end]), end
    for rider in riders or ():
        rider.written(answer[at:at + len(rider.returning)])
        at += len(rider.returning)
    return out, selected
