"""`make bench`: prepare the benchmark databases, run every scenario, print a Markdown table, write JSON.

    python -m bench              # the full run (about 10 minutes on 2 cores; the first run also seeds)
    python -m bench --quick      # shorter runs, one repeat
    python -m bench --smoke      # tiny runs: only that every scenario works (tests/test_bench_smoke.py)
    python -m bench --only service,pgbench
    python -m bench --pooler     # only the runs through PgBouncer in transaction mode
    python -m bench --reseed     # rebuild the seeded template first (otherwise it is built once and kept)

A full run writes bench/results/latest.json; other runs write bench/results/partial.json (BENCH_RESULTS: another
directory). A program a scenario needs (wrk, pgbouncer) is installed with apt-get when that can happen unattended
(bench/tools.py); a scenario that cannot run, or fails, says "not run: why" in the table and the JSON, and the
others still run.

Only the `waybill_bench` database (cloned from `waybill_bench_template`) and Redis DB 6 are used (BENCH_DB,
BENCH_TEMPLATE_DB, BENCH_REDIS_URL choose others).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from . import databases
from .runtime import BENCH_DB, BENCH_REDIS_URL, RESULTS, SETTINGS

# in the order they run
SCENARIOS = ["queries", "pages", "returns", "replies", "service", "hot", "pgbench", "http", "tracking", "pooler",
             "notifications", "tasks", "growth", "export", "analytics"]
POOL_USERS = {"service", "hot", "pooler"}  # the scenarios that share the placement workers
SERVER_USERS = {"http", "tracking"}  # and those that share one gunicorn
CLIENTS = (1, 2, 4, 8)

TARGETS = {
    # the order path's targets (issue 14): the ratio at every N, not only the best
    "service_orders_per_s": 400, "ratio": 0.40, "hot_orders_per_s": 300, "hot_p99_ms": 100,
    "http_orders_per_s_8": 250, "http_p99_ms_8": 60, "http_orders_per_s_32": 250, "http_p99_ms_32": 250,
    "queries_per_order": 10, "queries_per_api_request": 11,
    "admin_changelist_p95_ms": 100, "api_order_detail_p95_ms": 20, "api_customer_order_list_p95_ms": 30,
    "admin_returns_p95_ms": 100, "api_returns_p95_ms": 30, "desk_p95_ms": 100, "portal_p95_ms": 30,
    "warehouse_p95_ms": 100, "return_p95_ms": 60, "reply_p95_ms": 60,
    "tracking_pages_per_s_8": 400, "tracking_p99_ms_8": 50, "tracking_p99_ms_32": 150, "pooler_cpu_vs_direct": 1.2,
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 1024 / 1024)
    except OSError:
        pass
    try:
        pg = subprocess.run(["psql", "-At", "-c", "SHOW server_version", f"{databases.PG_SERVER}/{BENCH_DB}"],
                            capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pg = ""
    return {"cores": os.cpu_count(), "memory_gib": mem, "postgresql": pg, "python": platform.python_version(),
            "platform": platform.platform()}


def _clear_redis() -> None:
    """Empty the benchmark's own Redis DB: orders placed without a worker leave their tasks on the queue."""
    import redis

    try:
        redis.Redis.from_url(BENCH_REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.RedisError as exc:
        log(f"Redis at {BENCH_REDIS_URL} is not usable: {exc}")


@dataclass(frozen=True)
class Profile:
    """How long and how often each scenario runs."""

    name: str
    duration: int  # seconds per timed run
    repeats: int
    clients: tuple[int, ...]  # worker processes for service placement and pgbench
    samples: int  # requests per page, returns created, replies written
    hot_workers: int
    hot_units: int
    http_clients: tuple[int, ...]
    http_repeats: int
    notifications: int
    detail_seconds: int  # pgbench's per-statement run


PROFILES = {
    "full": Profile("full", 6, 3, CLIENTS, 100, 8, 500, (8, 32), 2, 200, 3),
    "quick": Profile("quick", 4, 1, CLIENTS, 30, 8, 500, (8, 32), 1, 50, 3),
    # the smoke test in `make test`: every scenario's machinery once, on a tiny seed; the figures mean nothing
    "smoke": Profile("smoke", 1, 1, (1, 2), 2, 2, 20, (2, 4), 1, 3, 1),
}


TITLES = {  # how the table names a scenario that did not run
    "queries": "5. Queries per order", "pages": "6. Pages at scale", "returns": "9. Return and claim creation",
    "replies": "10. Ticket reply", "tracking": "11. Public tracking page (wrk)", "service": "1. Service placement",
    "hot": "3. Hot SKU", "pgbench": "2. pgbench on the same SQL", "http": "4. HTTP POST /api/orders/ (wrk)",
    "pooler": "12. Orders through PgBouncer (transaction mode)", "notifications": "7. Notification latency",
    "tasks": "13. Task cost per queue", "growth": "14. Rows per order", "export": "8. Order export",
}


def registry_title(name: str) -> str:
    return TITLES.get(name, name)


@dataclass(frozen=True)
class Scenario:
    key: str  # where its figures go in the JSON
    run: Callable[[Context], dict]
    needs: tuple[str, ...] = ()  # programs (bench.tools)


class Context:
    """What a scenario gets: the profile, the programs it needs, and the shared pool of placement workers."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self._pool = None
        self._server = None
        self._relay = None

    def relay(self):
        """The outbox relay the order scenarios run beside them (bench.relay; started on first use)."""
        from .relay import Relay

        if self._relay is None:
            self._relay = Relay().start()
        return self._relay

    def pool(self):
        from .workers import WorkerPool

        if self._pool is None:
            self._pool = WorkerPool(max(max(self.profile.clients), self.profile.hot_workers)).__enter__()
        return self._pool

    def server(self):
        """(process, port) of the gunicorn the HTTP scenarios share (started on first use)."""
        from . import scenarios

        if self._server is None:
            self._server = scenarios.gunicorn(workers=2 * (os.cpu_count() or 1))
        return self._server

    def close(self, *, pool: bool = True, server: bool = True) -> None:
        if pool and self._pool is not None:
            self._pool.__exit__(None, None, None)
            self._pool = None
        if server and self._server is not None:
            from . import scenarios

            scenarios.stop_gunicorn(self._server[0])
            self._server = None
        if self._pool is None and self._server is None and self._relay is not None:
            self._relay.stop()
            self._relay = None


def _scenarios() -> dict[str, Scenario]:
    from . import after_sales, growth, pooler, scenarios, task_costs, tracking

    def service(c: Context) -> dict:
        return scenarios.service_placement(c.pool(), clients=c.profile.clients, duration=c.profile.duration,
                                           repeats=c.profile.repeats, relay=c.relay())

    def hot(c: Context) -> dict:
        return scenarios.hot_sku(c.pool(), workers=c.profile.hot_workers, repeats=c.profile.repeats,
                                 units=c.profile.hot_units, relay=c.relay())

    def pgbench(c: Context) -> dict:
        return scenarios.pgbench(clients=c.profile.clients, duration=c.profile.duration, repeats=c.profile.repeats,
                                 detail_seconds=c.profile.detail_seconds)

    def http(c: Context) -> dict:
        return scenarios.http(concurrency=c.profile.http_clients, duration=c.profile.duration,
                              repeats=c.profile.http_repeats, server=c.server(), relay=c.relay())

    def analytics_dashboard(c: Context) -> dict:
        from . import analytics

        return analytics.run(samples=c.profile.samples, smoke=c.profile.name == "smoke")

    def track(c: Context) -> dict:
        return tracking.tracking_page(concurrency=c.profile.http_clients, duration=c.profile.duration,
                                      repeats=c.profile.http_repeats, server=c.server())

    return {
        "queries": Scenario("queries_per_order", lambda c: scenarios.queries_per_order()),
        "pages": Scenario("pages", lambda c: scenarios.pages(samples=c.profile.samples)),
        "returns": Scenario("returns", lambda c: after_sales.return_creation(n=c.profile.samples)),
        "replies": Scenario("ticket_replies", lambda c: after_sales.ticket_replies(n=c.profile.samples)),
        "tracking": Scenario("tracking", track, needs=("wrk",)),
        "service": Scenario("service", service),
        "hot": Scenario("hot_sku", hot),
        "pgbench": Scenario("pgbench", pgbench, needs=("pgbench",)),
        "http": Scenario("http", http, needs=("wrk",)),
        "pooler": Scenario("pooler", lambda c: pooler.through_pgbouncer(profile=c.profile, pool=c.pool(),
                                                                     relay=c.relay()),
                           needs=("pgbouncer",)),
        "notifications": Scenario("notifications", lambda c: scenarios.notification_latency(n=c.profile.notifications)),
        "tasks": Scenario("task_costs", lambda c: task_costs.per_queue(n=c.profile.samples)),
        "growth": Scenario("growth", lambda c: growth.per_order(n=max(2, c.profile.samples // 5))),
        "export": Scenario("export", lambda c: scenarios.order_export()),
        "analytics": Scenario("analytics", analytics_dashboard),
    }


def not_run(reason: str) -> dict:
    return {"not_run": reason}


def ran(results: dict, key: str) -> dict:
    """A scenario's figures, or {} when it did not run (or was not asked for)."""
    figures = results.get(key)
    return figures if isinstance(figures, dict) and "not_run" not in figures else {}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="short runs, one repeat")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny runs that only show every scenario works (the smoke test in make test)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--pooler", action="store_true", help="only the runs through PgBouncer (= --only pooler)")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded template database first")
    args = parser.parse_args(argv)
    only = ["pooler"] if args.pooler else [s for s in args.only.split(",") if s]
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    profile = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]

    started = time.perf_counter()
    _clear_redis()
    load_before = os.getloadavg()
    log("preparing databases")
    prep_failed = None
    try:
        if args.reseed:
            databases.drop(databases.TEMPLATE_DB)
        prep = databases.prepare(log)
        log(f"databases ready in {prep['prepare_seconds']} s")
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported in the results, which are still written
        prep_failed = f"the benchmark databases could not be prepared: {type(exc).__name__}: {exc}"
        prep = {"failed": prep_failed}
        log(prep_failed)

    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["BENCH_DB"] = BENCH_DB
    import django

    django.setup()
    from . import report, tools

    results: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
                     "settings": {"profile": profile.name, "duration_s": profile.duration,
                                  "repeats": profile.repeats, "clients": list(profile.clients)},
                     "databases": prep}
    timings: dict[str, float] = {}
    registry = _scenarios()
    programs: dict[str, tuple[str | None, str | None]] = {}
    context = Context(profile)
    try:
        selected = [s for s in SCENARIOS if s in only]
        for position, name in enumerate(selected):
            scenario = registry[name]
            t = time.perf_counter()
            reason = prep_failed
            for program in scenario.needs:
                if reason is None:
                    if program not in programs:
                        programs[program] = tools.ensure(program, log)
                    reason = programs[program][1]
            if reason is not None:
                log(f"{name}: not run: {reason}")
                results[scenario.key] = not_run(reason)
                continue
            log(f"{name} ...")
            try:
                results[scenario.key] = scenario.run(context)
            except Exception as exc:  # noqa: BLE001 - one scenario failing never costs the others their figures
                log(f"{name} failed:\n{traceback.format_exc()}")
                results[scenario.key] = not_run(f"failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            finally:
                timings[name] = round(time.perf_counter() - t, 1)
            later = set(selected[position + 1:])
            # the pool's processes and the shared gunicorn go once no scenario after this one needs them
            context.close(pool=not POOL_USERS & later, server=not SERVER_USERS & later)
    finally:
        context.close()
    results["not_run"] = {name: results[registry[name].key]["not_run"] for name in SCENARIOS
                          if name in only and "not_run" in results.get(registry[name].key, {})}
    results["seconds"] = {**timings, "total": round(time.perf_counter() - started, 1)}
    # Others' work on the same cores skews every figure: keep the evidence next to them.
    results["load_average"] = {"start": [round(x, 2) for x in load_before],
                               "end": [round(x, 2) for x in os.getloadavg()]}
    _clear_redis()

    summary = summarise(results)
    results["summary"] = summary
    RESULTS.mkdir(parents=True, exist_ok=True)
    # Only a full run replaces latest.json; --quick, --smoke or --only runs go next to it.
    full = profile.name == "full" and set(only) == set(SCENARIOS)
    target = RESULTS / ("latest.json" if full else "partial.json")
    target.write_text(json.dumps(results, indent=2, default=str) + "\n")
    charts = report.write(results, target.with_suffix(".html"))
    print(table(results, summary))
    print(f"\n{results['date']} · {results['machine']['cores']} cores, {results['machine']['memory_gib']} GiB, "
          f"PostgreSQL {(results['machine']['postgresql'] or '?').split()[0]} · load average (1 min) "
          f"{results['load_average']['start'][0]} at start, {results['load_average']['end'][0]} at end")
    if results["not_run"]:
        log(f"not run: {', '.join(results['not_run'])} (the reasons are in the table and the JSON)")
    log(f"done in {results['seconds']['total']} s; figures in {target}, charts in {charts}")
    hot = ran(results, "hot_sku")
    if hot.get("oversold"):
        log("FAIL: the hot SKU was oversold")
        return 1
    if hot and not hot["ok"]:
        log("FAIL: a hot SKU check did not hold (see checks in latest.json)")
        return 1
    return 0


def _figures_only(r: dict) -> dict:
    """The results without the scenarios that did not run."""
    return {k: v for k, v in r.items() if not (isinstance(v, dict) and "not_run" in v)}


def summarise(r: dict) -> dict:
    r = _figures_only(r)
    s: dict = {}
    service = r.get("service") or {}
    pgb = (r.get("pgbench") or {}).get("by_clients", {})
    if service:
        best_n = max(service, key=lambda n: service[n]["orders_per_s"] or 0)
        s["service_best_n"] = int(best_n)
        s["service_orders_per_s"] = service[best_n]["orders_per_s"]
    if service and pgb:
        ratios = {n: round(service[n]["orders_per_s"] / pgb[n]["tps"], 3) for n in service if n in pgb}
        s["ratio_by_clients"] = ratios
        best_pg = max(pgb.values(), key=lambda f: f["tps"])["tps"]
        s["pgbench_best_tps"] = best_pg
        s["ratio"] = round(s["service_orders_per_s"] / best_pg, 3)
    if r.get("hot_sku"):
        s["hot_orders_per_s"] = r["hot_sku"]["orders_per_s"]
        s["hot_p99_ms"] = r["hot_sku"]["p99_ms"]
        s["hot_oversold"] = r["hot_sku"]["oversold"]
    http8 = ((r.get("http") or {}).get("by_clients") or {}).get("8")
    if http8:
        s["http_orders_per_s_8"] = http8["orders_per_s"]
        s["http_p99_ms_8"] = http8["p99_ms"]
    q = r.get("queries_per_order")
    if q:
        s["queries_per_order"] = max(v["queries"] for v in q["by_lines"].values())
        s["queries_equal"] = q["equal"]
    p = r.get("pages")
    if p:
        s["admin_changelist_p95_ms"] = max(p[k]["p95_ms"] for k in
                                           ("admin_changelist", "admin_changelist_status", "admin_changelist_search"))
        s["api_order_detail_p95_ms"] = p["api_order_detail"]["p95_ms"]
        s["api_customer_order_list_p95_ms"] = p["api_customer_order_list"]["p95_ms"]
        if "admin_returns" in p:
            s["admin_returns_p95_ms"] = max(p[k]["p95_ms"] for k in RETURN_PAGES if k.startswith("admin"))
            s["api_returns_p95_ms"] = max(p[k]["p95_ms"] for k in RETURN_PAGES if k.startswith("api"))
        if "desk_queue" in p:
            s["desk_p95_ms"] = max(p[k]["p95_ms"] for k in DESK_PAGES if k in p)
        if "portal_order" in p:
            s["portal_p95_ms"] = max(p[k]["p95_ms"] for k in PORTAL_PAGES)
        if "fulfilment_queue" in p:
            s["warehouse_p95_ms"] = max(p[k]["p95_ms"] for k in WAREHOUSE_PAGES if k in p)
    return s


PORTAL_PAGES = {
    "portal_order": ("6. Portal order page (story, parcels, returns)", "portal_p95_ms"),
    "portal_orders": ("6. Portal my orders", "portal_p95_ms"),
}
DESK_PAGES = {
    "desk_queue": ("6. Support queue", "desk_p95_ms"),
    "desk_ticket": ("6. Support ticket page with its case", "desk_p95_ms"),
    "desk_search_number": ("6. Support search, part of an order number", "desk_p95_ms"),
    "desk_search_name": ("6. Support search, a name", "desk_p95_ms"),
    "desk_search_email": ("6. Support search, an email", "desk_p95_ms"),
    "desk_search_serial": ("6. Support search, a serial number", "desk_p95_ms"),
    "desk_search_tracking": ("6. Support search, a tracking number", "desk_p95_ms"),
}
WAREHOUSE_PAGES = {
    "admin_order_page": ("6. Admin order page (summary, parcels, timeline)", "warehouse_p95_ms"),
    "admin_search_partial_number": ("6. Admin search, part of an order number", "warehouse_p95_ms"),
    "admin_search_name": ("6. Admin search, a name", "warehouse_p95_ms"),
    "fulfilment_queue": ("6. Fulfilment queue of a warehouse", "warehouse_p95_ms"),
    "admin_search_serial": ("6. Admin search, a serial number", "warehouse_p95_ms"),
    "admin_search_tracking": ("6. Admin search, a tracking number", "warehouse_p95_ms"),
}
RETURN_PAGES = {
    "admin_returns": ("6. Admin returns, unfiltered", "admin_returns_p95_ms"),
    "admin_returns_status": ("6. Admin returns, by status", "admin_returns_p95_ms"),
    "admin_returns_reason": ("6. Admin returns, by reason", "admin_returns_p95_ms"),
    "admin_returns_search": ("6. Admin returns, search number", "admin_returns_p95_ms"),
    "api_return_list": ("6. API return list (staff)", "api_returns_p95_ms"),
    "api_return_detail": ("6. API return detail", "api_returns_p95_ms"),
}


def after_sales_rows(r: dict) -> list[tuple]:
    """Rows of the scenarios added after the first round: returns, replies, tracking, the pooler, task costs."""
    rows: list[tuple] = []
    for key, parts, target_key in (
        ("returns", (("return", "9. Return created (API, change of mind)"),
                     ("claim", "9. Claim created (API, defective unit, its serial)")), "return_p95_ms"),
        ("ticket_replies", (("agent", "10. Ticket reply by an agent (API, emailed)"),
                            ("customer", "10. Ticket reply by the customer (API)")), "reply_p95_ms"),
    ):
        for part, label in parts if r.get(key) else ():
            f = r[key][part]
            rows.append((label, "p50/p95/p99 ms · per s (1 client) · queries",
                         f"{_lat(f)} · {f['per_s']} · {f['queries']}", f"p95 ≤ {TARGETS[target_key]}",
                         _met(f["p95_ms"], TARGETS[target_key], at_most=True)))
    tracking = r.get("tracking")
    for c, f in ((tracking or {}).get("by_clients") or {}).items():
        target, met = "", ""
        if c == "8":
            target = f"≥ {TARGETS['tracking_pages_per_s_8']} · p99 ≤ {TARGETS['tracking_p99_ms_8']}"
            met = "yes" if (f["pages_per_s"] or 0) >= TARGETS["tracking_pages_per_s_8"] and (
                f["p99_ms"] or 1e9) <= TARGETS["tracking_p99_ms_8"] else "**no**"
        elif c == "32":
            target = f"p99 ≤ {TARGETS['tracking_p99_ms_32']}"
            met = _met(f["p99_ms"], TARGETS["tracking_p99_ms_32"], at_most=True)
        rows.append((f"11. Tracking page GET, {c} clients ({tracking['workers']} gunicorn workers)",
                     "pages/s · p50/p95/p99 ms", f"{f['pages_per_s']} · {_lat(f)}", target, met))
    pooler = r.get("pooler")
    if pooler:
        # Throughput moves with whatever else runs on the machine; the CPU an order costs (the application's, the
        # database's and PgBouncer's own) does not: the target is on that.
        def cpu_rows(label, pooled, direct, app, bouncer):
            for n, f in pooled.items():
                d = direct.get(n) or {}
                ratio = round(f["orders_per_s"] / d["orders_per_s"], 2) if d.get("orders_per_s") else "–"
                mine = (f.get(app) or 0) + (f.get("db_cpu_ms_per_order") or 0) + (bouncer or 0)
                theirs = (d.get(app) or 0) + (d.get("db_cpu_ms_per_order") or 0)
                cost = round(mine / theirs, 2) if theirs else None
                rows.append((f"12. Through PgBouncer: {label}{n}", "orders/s · p99 ms · ÷ direct · CPU/order ÷ direct",
                             f"{f['orders_per_s']} · {f['p99_ms']} · {ratio} · {round(mine, 1)} ÷ {round(theirs, 1)}"
                             f" = {cost if cost is not None else '–'}",
                             f"CPU ≤ {TARGETS['pooler_cpu_vs_direct']} × direct",
                             _met(cost, TARGETS["pooler_cpu_vs_direct"], at_most=True)))

        cpu_rows("service placement, N=", pooler["service"], r.get("service") or {}, "client_cpu_ms_per_order",
                 (pooler.get("service_pgbouncer") or {}).get("pgbouncer_cpu_ms_per_order"))
        http = pooler.get("http") or {}
        if "not_run" in http:
            rows.append(("12. Through PgBouncer: HTTP", "not run", http["not_run"], "", ""))
        else:
            cpu_rows("HTTP, clients ", http.get("by_clients") or {}, (r.get("http") or {}).get("by_clients") or {},
                     "app_cpu_ms_per_order", (pooler.get("http_pgbouncer") or {}).get("pgbouncer_cpu_ms_per_order"))
        rows.append(("12. PgBouncer server connections", "most held · pool size",
                     f"{pooler['server_connections_max']} · {pooler['pool_size']}", "≤ pool size",
                     "yes" if pooler["server_connections_max"] <= pooler["pool_size"] else "**no**"))
    for queue, f in (r.get("task_costs") or {}).items():
        rows.append((f"13. One task on the {queue} queue", "wall p50 / mean ms · CPU app / db ms · queries",
                     f"{f['wall_ms_p50']} / {f['wall_ms_mean']} · {f['cpu_ms_mean']} / {f.get('db_cpu_ms_mean')} · "
                     f"{f['queries_mean']}", "", ""))
    growth = r.get("growth")
    for table, f in list(((growth or {}).get("tables") or {}).items())[:10]:
        rows.append((f"14. Rows per order (whole life): {table}", "rows · bytes/row (+ indexes) · GB per 1M orders",
                     f"{f['rows_per_order']} · {f['row_bytes']} ({f['bytes_per_row'] or '–'}) · "
                     f"{f.get('gb_per_million_orders', '–')}", "", ""))
    return rows


def _met(value, target, *, at_most=False) -> str:
    if value is None:
        return "–"
    return "yes" if (value <= target if at_most else value >= target) else "**no**"


def _lat(f: dict) -> str:
    return f"{f.get('p50_ms')} / {f.get('p95_ms')} / {f.get('p99_ms')}"


def table(r: dict, s: dict) -> str:
    missing = [(registry_title(name), "not run", reason, "", "") for name, reason in (r.get("not_run") or {}).items()]
    r = _figures_only(r)
    rows = [("Scenario", "Figure", "Result", "Target", "Met")]
    service = r.get("service") or {}
    pgb = (r.get("pgbench") or {}).get("by_clients", {})
    ratios = s.get("ratio_by_clients", {})
    for n, f in service.items():
        rows.append((f"1. Service placement, N={n}", "orders/s · p50/p95/p99 ms",
                     f"{f['orders_per_s']} · {_lat(f)}", "", ""))
    if service:
        best = f"{s['service_orders_per_s']} (N={s['service_best_n']})"
        rows.append(("1. Service placement, best N", "orders/s", best, f"≥ {TARGETS['service_orders_per_s']}",
                     _met(s["service_orders_per_s"], TARGETS["service_orders_per_s"])))
    for n, f in pgb.items():
        ratio = ratios.get(n)
        rows.append((f"2. pgbench same SQL, N={n}", "tps · ours/pgbench", f"{f['tps']} · {ratio or '–'}",
                     f"≥ {TARGETS['ratio']}" if ratio is not None else "",
                     _met(ratio, TARGETS["ratio"]) if ratio is not None else ""))
    if "ratio" in s:
        rows.append(("2. **Headline**: ours / pgbench", "best orders/s ÷ best tps", f"**{s['ratio']}**",
                     f"≥ {TARGETS['ratio']}", _met(s["ratio"], TARGETS["ratio"])))
    hot = r.get("hot_sku")
    if hot:
        c = hot["checks"][-1]
        rows.append((f"3. Hot SKU ({hot.get('workers', 8)} workers, {hot.get('units', 500)} units)",
                     "orders/s · p50/p95/p99 ms",
                     f"{hot['orders_per_s']} · {_lat(hot)}", f"≥ {TARGETS['hot_orders_per_s']} · p99 ≤ "
                     f"{TARGETS['hot_p99_ms']}", "yes" if (hot["orders_per_s"] or 0) >= TARGETS["hot_orders_per_s"]
                     and (hot["p99_ms"] or 1e9) <= TARGETS["hot_p99_ms"] else "**no**"))
        rows.append(("3. Hot SKU checks", "sold · oversold · deadlocks · errors",
                     f"{c['sold_units']} · {'YES' if hot['oversold'] else 'no'} · {c['deadlocks_reaching_client']}"
                     f" · {sum(c['other_errors'].values())}", f"{hot.get('units', 500)} · no · 0 · 0",
                     "yes" if hot["ok"] else "**no**"))
    http = (r.get("http") or {}).get("by_clients", {})
    for c, f in http.items():
        rate, p99 = TARGETS.get(f"http_orders_per_s_{c}"), TARGETS.get(f"http_p99_ms_{c}")
        target = f"≥ {rate} · p99 ≤ {p99}" if rate else ""
        met = ("yes" if f["orders_per_s"] >= rate and (f["p99_ms"] or 1e9) <= p99 else "**no**") if rate else ""
        rows.append((f"4. HTTP, {c} clients ({r['http']['workers']} gunicorn workers)", "orders/s · p50/p95/p99 ms",
                     f"{f['orders_per_s']} · {_lat(f)}", target, met))
    q = r.get("queries_per_order")
    if q:
        counts = " / ".join(str(v["queries"]) for v in q["by_lines"].values())
        rows.append(("5. Queries per order (1 / 5 / 20 lines)", "queries incl. BEGIN/COMMIT", counts,
                     f"≤ {TARGETS['queries_per_order']}, equal",
                     "yes" if q["equal"] and s["queries_per_order"] <= TARGETS["queries_per_order"] else "**no**"))
        if q.get("api_by_lines"):
            rows.append(("5. Queries per API request (1 / 5 / 20 lines)", "auth + placement, no read-back",
                         " / ".join(str(v) for v in q["api_by_lines"].values()),
                         f"≤ {TARGETS['queries_per_api_request']}, equal",
                         "yes" if len(set(q["api_by_lines"].values())) == 1
                         and max(q["api_by_lines"].values()) <= TARGETS["queries_per_api_request"] else "**no**"))
    p = r.get("pages")
    if p:
        labels = {"admin_changelist": ("6. Admin changelist, unfiltered", "admin_changelist_p95_ms"),
                  "admin_changelist_status": ("6. Admin changelist, by status", "admin_changelist_p95_ms"),
                  "admin_changelist_search": ("6. Admin changelist, search number", "admin_changelist_p95_ms"),
                  "api_order_detail": ("6. API order detail", "api_order_detail_p95_ms"),
                  "api_customer_order_list": ("6. API customer's order list", "api_customer_order_list_p95_ms")}
        if "admin_returns" in p:
            labels.update(RETURN_PAGES)
        if "portal_order" in p:
            labels.update(PORTAL_PAGES)
        if "desk_queue" in p:
            labels.update(DESK_PAGES)
        if "fulfilment_queue" in p:
            labels.update(WAREHOUSE_PAGES)
        for key, (label, target_key) in labels.items():
            if key not in p:
                continue
            f = p[key]
            rows.append((f"{label} ({p['orders']:,} orders)", "p50 / p95 ms · queries",
                         f"{f['p50_ms']} / {f['p95_ms']} · {f['queries']}", f"p95 ≤ {TARGETS[target_key]}",
                         _met(f["p95_ms"], TARGETS[target_key], at_most=True)))
    e = r.get("export")
    if e:
        rows.append((f"8. Order export in the background ({e['rows']:,} orders)", "seconds · rows/s · progress writes",
                     f"{e['seconds']} · {e['rows_per_s']:,} · {e['progress_updates']}", "≤ 120 s",
                     _met(e["seconds"], 120, at_most=True)))
    from .analytics import table_rows

    rows += table_rows(r)
    n = r.get("notifications")
    if n is not None:
        value = _lat(n) if n.get("available") else n.get("reason", "not available")
        rows.append(("7. Notification latency, commit → sent", "p50/p95/p99 ms", value, "", ""))
    rows += after_sales_rows(r) + missing
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("| " + " | ".join(str(c).ljust(widths[j]) for j, c in enumerate(row)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
