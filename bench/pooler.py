"""Orders through PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer-transaction, docs/scaling.md).

A private PgBouncer (bench/pgbouncer.py) in front of the benchmark database, with a pool of 2 × cores server
connections. Through it: service placement with 2 and 8 worker processes (the same processes as the service
scenario, reconnected; 8 clients share the pool: transaction pooling at work), and `POST /api/orders/` with wrk
against a gunicorn of its own (without wrk that part says why it did not run). Reported beside each figure: the
same figure measured directly when that scenario ran, PgBouncer's own counts (transactions, average transaction
and wait times) and the server connections it held.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from . import cpu, scenarios, tools
from .pgbouncer import PgBouncer
from .runtime import BENCH_DB, PG_SERVER

POOLER_ENV = {"BENCH_DATABASE_POOLER": "pgbouncer-transaction"}  # bench.settings: DATABASE_POOLER's settings


def _counters(bouncer: PgBouncer) -> dict[str, int]:
    row = bouncer.stats(BENCH_DB)  # the admin console's numbers arrive as numeric: Decimal
    return {key: int(row.get(key, 0)) for key in ("total_xact_count", "total_xact_time", "total_wait_time")}


def _orders(figures: dict, duration: float) -> float:
    """Orders placed in the timed runs of a scenario's figures (by worker or client count)."""
    return sum(sum(f["runs"]) * duration for f in figures.values())


def _stats(bouncer: PgBouncer, before: dict[str, int], meter: cpu.Meter, orders: float) -> dict:
    """PgBouncer's counts since `before`, and the CPU its own process spent per transaction and per order (warm-up
    runs included: a slight overestimate)."""
    used = meter.stop()["app_cpu_s"]
    after = _counters(bouncer)
    xacts = after["total_xact_count"] - before["total_xact_count"]
    if not xacts:
        return {"transactions": 0}
    return {"transactions": xacts,
            "avg_xact_ms": round((after["total_xact_time"] - before["total_xact_time"]) / xacts / 1000, 2),
            "avg_wait_ms": round((after["total_wait_time"] - before["total_wait_time"]) / xacts / 1000, 2),
            "pgbouncer_cpu_ms_per_xact": round(1000 * used / xacts, 3),
            "pgbouncer_cpu_ms_per_order": round(1000 * used / orders, 3) if orders else None}


def through_pgbouncer(*, profile, pool, relay=None) -> dict:
    """`pool`: the placement workers of the service scenario, sent through PgBouncer for this one (`relay`: the
    outbox relay beside them, as in the direct runs)."""
    server = urlsplit(PG_SERVER)
    pool_size = 2 * (os.cpu_count() or 1)
    clients = tuple(n for n in (2, 8) if n <= max(profile.clients)) or profile.clients[-1:]
    with PgBouncer(server_host=server.hostname or "127.0.0.1", server_port=server.port or 5432,
                   user=server.username or "postgres", pool_size=pool_size) as bouncer:
        env = {**POOLER_ENV, "BENCH_DATABASE_URL": bouncer.url(BENCH_DB)}
        out: dict = {"pool_size": pool_size, "pool_mode": "transaction", "client_processes": len(pool.processes)}
        pool.run(len(pool.processes), "use_database", url=bouncer.url(BENCH_DB), pooler="pgbouncer-transaction")
        before = _counters(bouncer)
        meter = cpu.Meter(app=lambda: [bouncer.process.pid]).start()
        out["service"] = scenarios.service_placement(pool, clients=clients, duration=profile.duration,
                                                     repeats=profile.repeats, relay=relay)
        out["server_connections"] = bouncer.server_connections(BENCH_DB)
        out["service_pgbouncer"] = _stats(bouncer, before, meter, _orders(out["service"], profile.duration))
        pool.run(len(pool.processes), "use_database", url=f"{PG_SERVER}/{BENCH_DB}")  # direct again
        wrk, why = tools.ensure("wrk")
        if wrk is None:
            out["http"] = {"not_run": why}
        else:
            before = _counters(bouncer)
            meter = cpu.Meter(app=lambda: [bouncer.process.pid]).start()
            out["http"] = scenarios.http(concurrency=profile.http_clients, duration=profile.duration,
                                         repeats=profile.http_repeats, env=env, relay=relay)
            out["http_pgbouncer"] = _stats(bouncer, before, meter,
                                           _orders(out["http"]["by_clients"], profile.duration))
        out["server_connections_max"] = max(out["server_connections"], bouncer.server_connections(BENCH_DB))
    return out
