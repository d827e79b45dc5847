"""Where the dashboard reads from: this one place. Every panel query and every ORM read of the analytics pages
goes through `using()`: the replica the request's routing chose (config/replicas.py: /analytics/ is in
WAYBILL_REPLICA_READ_PATHS, so with DATABASE_REPLICA_URL set a page reads from a replica that has the viewer's own
last write and is within the lag limit), else the primary. The rollup refresh writes through the default connection,
as every service does."""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings
from django.db import connections, transaction

READ_ALIAS = "default"


def using() -> str:
    from config.replicas import current_routing

    routing = current_routing()
    return routing.read_alias() if routing is not None else READ_ALIAS


def rows(sql: str, params: dict | list | None = None) -> list[dict]:
    """The rows of one read query, as dicts (column name → value)."""
    with connections[using()].cursor() as cursor:
        cursor.execute(sql, params or {})
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def vendor() -> str:
    return connections[using()].vendor


@contextmanager
def reading():
    """One transaction around a page's reads, with room to sort and hash in memory (WAYBILL_ANALYTICS_WORK_MEM)
    instead of spilling to disk, and without JIT compilation: the panels' queries read a few thousand to a hundred
    thousand rollup rows, and compiling them (which the planner chooses from its cost estimates of the percentile
    joins) took longer than running them (360 ms of a 390 ms query at a million orders)."""
    connection = connections[using()]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using()):
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)",
                           [settings.WAYBILL_ANALYTICS_WORK_MEM])
        yield
