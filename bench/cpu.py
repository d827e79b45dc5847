"""CPU seconds spent by the processes a figure is about: the application's (placement workers, gunicorn) and the
PostgreSQL backends serving the benchmark database, read from /proc.

CPU time, unlike wall time, hardly changes when other work shares the cores, so these are the figures the capacity
model in docs/scaling.md is built on. PostgreSQL's background processes (WAL writer, checkpointer) serve every
database and are not counted; a backend does most of its commit's WAL flush itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.db import connection

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float | None:
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def group(pgid: int) -> list[int]:
    """The processes of a process group (a server started with start_new_session=True, and its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def backends(dbname: str) -> list[int]:
    """The PostgreSQL backends connected to `dbname`, except this process's own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
                       "AND pid <> pg_backend_pid()", [dbname])
        return [row[0] for row in cursor.fetchall()]


def own_backend() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return [cursor.fetchone()[0]]


class Meter:
    """CPU seconds of the application's processes (`app`) and of PostgreSQL backends (`db`) between start() and
    stop(); both are callables giving pids, read at both ends (a process born during the run counts from zero)."""

    def __init__(self, *, app=None, db=None):
        self.sources = {"app": app, "db": db}
        self.before: dict[str, dict[int, float]] = {}

    def _snapshot(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for kind, pids in self.sources.items():
            out[kind] = {}
            for pid in pids() if pids else ():
                value = _cpu(pid)
                if value is not None:
                    out[kind][pid] = value
        return out

    def start(self) -> Meter:
        self.before = self._snapshot()
        return self

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        return {f"{kind}_cpu_s": sum(value - self.before[kind].get(pid, 0.0) for pid, value in after[kind].items())
                for kind in self.sources if self.sources[kind]}
