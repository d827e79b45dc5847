"""The public tracking page under load: `GET /track/<tracking number>/` with wrk, at 8 and 32 connections.

gunicorn (sync workers, 2 × cores, as the Procfile runs it) serves parcels drawn at random from the million-order
seed's (a parcel per order that left: its carrier, status and scans). The page is public and rate-limited per
client address; the benchmark's settings lift the limit (the counter is still kept), or every figure would
measure the limit. Every answer must be 200. Reported: pages/s and p50/p95/p99 per connection count.
"""

from __future__ import annotations

import os
import random
import tempfile

from . import cpu, scenarios
from .runtime import BENCH_DB
from .stats import median_of

PARCELS = 2000


def _tracking_numbers() -> list[str]:
    from shipping.models import Shipment

    r = random.Random(37)
    top = Shipment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    numbers = list(Shipment.objects.filter(pk__in=[r.randint(1, top) for _ in range(2 * PARCELS)])
                   .exclude(tracking_number="").values_list("tracking_number", flat=True)[:PARCELS])
    if not numbers:
        raise RuntimeError("the seed has no parcels with tracking numbers (rebuild it: --reseed)")
    return numbers


def _run(port: int, *, connections: int, duration: float, numbers_file: str, server_pid: int | None = None,
         warm_up: bool = False) -> dict:
    meter = cpu.Meter(app=(lambda: cpu.group(server_pid)) if server_pid else None,
                      db=lambda: cpu.backends(BENCH_DB)).start()
    raw = scenarios.run_wrk(f"http://127.0.0.1:{port}/track/", script="wrk_tracking.lua", connections=connections,
                            duration=duration, env={"WAYBILL_TRACKING_FILE": numbers_file})
    seconds = raw["duration_us"] / 1e6
    if (not raw["served"] and not warm_up) or raw["not_served"] or raw["socket_errors"]:
        raise RuntimeError(f"{raw['served']} pages served, {raw['not_served']} answers were not 200 and "
                           f"{raw['socket_errors']} requests failed")
    used = meter.stop()
    return {"pages_per_s": raw["served"] / seconds, "p50_ms": raw["p50_us"] / 1000, "p95_ms": raw["p95_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "app_cpu_ms_per_page": 1000 * used["app_cpu_s"] / raw["served"] if server_pid and raw["served"] else None,
            "db_cpu_ms_per_page": 1000 * used["db_cpu_s"] / raw["served"] if raw["served"] else None}


def tracking_page(*, concurrency, duration: float, repeats: int, server=None) -> dict:
    """wrk against `server` (gunicorn's process and port), or a gunicorn started here."""
    numbers = _tracking_numbers()
    workers = 2 * (os.cpu_count() or 1)
    own = server is None
    if own:
        server = scenarios.gunicorn(workers=workers)
    process, port = server
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as numbers_file:
            numbers_file.write("\n".join(numbers) + "\n")
            numbers_file.flush()
            _run(port, connections=workers, duration=2, numbers_file=numbers_file.name, warm_up=True)  # warm up
            out = {"workers": workers, "parcels": len(numbers), "by_clients": {}}
            for c in concurrency:
                runs = [_run(port, connections=c, duration=duration, numbers_file=numbers_file.name,
                             server_pid=process.pid) for _ in range(repeats)]
                figures = median_of(runs, ["pages_per_s", "p50_ms", "p95_ms", "p99_ms", "app_cpu_ms_per_page",
                                           "db_cpu_ms_per_page"])
                figures["runs"] = [round(r["pages_per_s"], 1) for r in runs]
                out["by_clients"][str(c)] = figures
    finally:
        if own:
            scenarios.stop_gunicorn(process)
    return out
