"""Where the dashboard reads from: this one place. Every panel query and every ORM read of the analytics pages
goes through `using()`, so reading from a replica is a one-line change here (READ_ALIAS = the replica's alias, or
the project's router's choice). The rollup refresh writes through the default connection, as every service does."""

from __future__ import annotations

from django.db import connections

READ_ALIAS = "default"


def using() -> str:
    return READ_ALIAS


def rows(sql: str, params: dict | list | None = None) -> list[dict]:
    """The rows of one read query, as dicts (column name → value)."""
    with connections[using()].cursor() as cursor:
        cursor.execute(sql, params or {})
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def vendor() -> str:
    return connections[using()].vendor
