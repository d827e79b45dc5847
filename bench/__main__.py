"""`make bench`: prepare the benchmark databases, run every scenario, print a Markdown table, write JSON.

    python -m bench              # the full run (under 10 minutes on 2 cores; the first run also seeds)
    python -m bench --quick      # shorter runs, one repeat: a smoke check of the machinery
    python -m bench --only service,pgbench
    python -m bench --reseed     # rebuild the seeded template first (otherwise it is built once and kept)

A full run writes bench/results/latest.json; --quick and --only runs write bench/results/partial.json.

Only the `waybill_bench` database (cloned from `waybill_bench_template`) and Redis DB 6 are used.
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

from . import databases
from .runtime import BENCH_DB, BENCH_REDIS_URL, RESULTS, SETTINGS

SCENARIOS = ["queries", "pages", "service", "pgbench", "hot", "http", "notifications", "export", "analytics"]
CLIENTS = (1, 2, 4, 8)

TARGETS = {
    "service_orders_per_s": 400, "ratio": 0.25, "hot_orders_per_s": 150, "hot_p99_ms": 200,
    "http_orders_per_s_8": 250, "http_p99_ms_8": 100, "queries_per_order": 12,
    "admin_changelist_p95_ms": 100, "api_order_detail_p95_ms": 20, "api_customer_order_list_p95_ms": 30,
    "admin_returns_p95_ms": 100, "api_returns_p95_ms": 30, "desk_p95_ms": 100, "portal_p95_ms": 30,
    "warehouse_p95_ms": 100,
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
    pg = subprocess.run(["psql", "-At", "-c", "SHOW server_version", f"{databases.PG_SERVER}/{BENCH_DB}"],
                        capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "memory_gib": mem, "postgresql": pg, "python": platform.python_version(),
            "platform": platform.platform()}


def _clear_redis() -> None:
    """Empty the benchmark's own Redis DB: orders placed without a worker leave their tasks on the queue."""
    import redis

    try:
        redis.Redis.from_url(BENCH_REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.RedisError as exc:
        log(f"Redis at {BENCH_REDIS_URL} is not usable: {exc}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="short runs, one repeat")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded template database first")
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    duration, repeats = (4, 1) if args.quick else (6, 3)

    started = time.perf_counter()
    _clear_redis()
    load_before = os.getloadavg()
    log("preparing databases")
    if args.reseed:
        databases.drop(databases.TEMPLATE_DB)
    prep = databases.prepare(log)
    log(f"databases ready in {prep['prepare_seconds']} s")

    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["BENCH_DB"] = BENCH_DB
    import django

    django.setup()
    from . import report, scenarios
    from .workers import WorkerPool

    results: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
                     "settings": {"duration_s": duration, "repeats": repeats}, "databases": prep}
    timings: dict[str, float] = {}

    def timed(name, fn, *a, **kw):
        t = time.perf_counter()
        log(f"{name} ...")
        try:
            return fn(*a, **kw)
        finally:
            timings[name] = round(time.perf_counter() - t, 1)

    if "queries" in only:
        results["queries_per_order"] = timed("queries per order", scenarios.queries_per_order)
    if "pages" in only:
        results["pages"] = timed("pages at scale", scenarios.pages, samples=30 if args.quick else 100)
    if {"service", "hot"} & set(only):
        with WorkerPool(max(CLIENTS)) as pool:
            if "service" in only:
                results["service"] = timed("service placement", scenarios.service_placement, pool,
                                           clients=CLIENTS, duration=duration, repeats=repeats)
            if "hot" in only:
                results["hot_sku"] = timed("hot SKU", scenarios.hot_sku, pool, workers=8, repeats=repeats)
    if "pgbench" in only:
        results["pgbench"] = timed("pgbench", scenarios.pgbench, clients=CLIENTS, duration=duration,
                                   repeats=repeats)
    if "http" in only:
        results["http"] = timed("HTTP", scenarios.http, concurrency=(8, 32), duration=duration,
                                repeats=2 if repeats > 1 else 1)
    if "notifications" in only:
        results["notifications"] = timed("notification latency", scenarios.notification_latency,
                                         n=50 if args.quick else 200)
    if "export" in only:
        results["export"] = timed("order export", scenarios.order_export)
    if "analytics" in only:
        from . import analytics

        results["analytics"] = timed("analytics dashboard", analytics.run, samples=30 if args.quick else 100)
    results["seconds"] = {**timings, "total": round(time.perf_counter() - started, 1)}
    # Others' work on the same cores skews every figure: keep the evidence next to them.
    results["load_average"] = {"start": [round(x, 2) for x in load_before],
                               "end": [round(x, 2) for x in os.getloadavg()]}
    _clear_redis()

    summary = summarise(results)
    results["summary"] = summary
    RESULTS.mkdir(exist_ok=True)
    # Only a full run replaces latest.json; --quick or --only runs go next to it.
    target = RESULTS / ("latest.json" if not args.quick and set(only) == set(SCENARIOS) else "partial.json")
    target.write_text(json.dumps(results, indent=2, default=str) + "\n")
    charts = report.write(results, target.with_suffix(".html"))
    print(table(results, summary))
    print(f"\n{results['date']} · {results['machine']['cores']} cores, {results['machine']['memory_gib']} GiB, "
          f"PostgreSQL {results['machine']['postgresql'].split()[0]} · load average (1 min) "
          f"{results['load_average']['start'][0]} at start, {results['load_average']['end'][0]} at end")
    log(f"done in {results['seconds']['total']} s; figures in {target}, charts in {charts}")
    if results.get("hot_sku", {}).get("oversold"):
        log("FAIL: the hot SKU was oversold")
        return 1
    if results.get("hot_sku") and not results["hot_sku"]["ok"]:
        log("FAIL: a hot SKU check did not hold (see checks in latest.json)")
        return 1
    return 0


def summarise(r: dict) -> dict:
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
            s["desk_p95_ms"] = max(p[k]["p95_ms"] for k in DESK_PAGES)
        if "portal_order" in p:
            s["portal_p95_ms"] = max(p[k]["p95_ms"] for k in PORTAL_PAGES)
        if "fulfilment_queue" in p:
            s["warehouse_p95_ms"] = max(p[k]["p95_ms"] for k in WAREHOUSE_PAGES)
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
}
WAREHOUSE_PAGES = {
    "admin_order_page": ("6. Admin order page (summary, parcels, timeline)", "warehouse_p95_ms"),
    "admin_search_partial_number": ("6. Admin search, part of an order number", "warehouse_p95_ms"),
    "admin_search_name": ("6. Admin search, a name", "warehouse_p95_ms"),
    "fulfilment_queue": ("6. Fulfilment queue of a warehouse", "warehouse_p95_ms"),
}
RETURN_PAGES = {
    "admin_returns": ("6. Admin returns, unfiltered", "admin_returns_p95_ms"),
    "admin_returns_status": ("6. Admin returns, by status", "admin_returns_p95_ms"),
    "admin_returns_reason": ("6. Admin returns, by reason", "admin_returns_p95_ms"),
    "admin_returns_search": ("6. Admin returns, search number", "admin_returns_p95_ms"),
    "api_return_list": ("6. API return list (staff)", "api_returns_p95_ms"),
    "api_return_detail": ("6. API return detail", "api_returns_p95_ms"),
}


def _met(value, target, *, at_most=False) -> str:
    if value is None:
        return "–"
    return "yes" if (value <= target if at_most else value >= target) else "**no**"


def _lat(f: dict) -> str:
    return f"{f.get('p50_ms')} / {f.get('p95_ms')} / {f.get('p99_ms')}"


def table(r: dict, s: dict) -> str:
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
        rows.append((f"2. pgbench same SQL, N={n}", "tps · ours/pgbench", f"{f['tps']} · {ratios.get(n, '–')}", "", ""))
    if "ratio" in s:
        rows.append(("2. **Headline**: ours / pgbench", "best orders/s ÷ best tps", f"**{s['ratio']}**",
                     f"≥ {TARGETS['ratio']}", _met(s["ratio"], TARGETS["ratio"])))
    hot = r.get("hot_sku")
    if hot:
        c = hot["checks"][-1]
        rows.append(("3. Hot SKU (8 workers, 500 units)", "orders/s · p50/p95/p99 ms",
                     f"{hot['orders_per_s']} · {_lat(hot)}", f"≥ {TARGETS['hot_orders_per_s']} · p99 ≤ "
                     f"{TARGETS['hot_p99_ms']}", "yes" if (hot["orders_per_s"] or 0) >= TARGETS["hot_orders_per_s"]
                     and (hot["p99_ms"] or 1e9) <= TARGETS["hot_p99_ms"] else "**no**"))
        rows.append(("3. Hot SKU checks", "sold · oversold · deadlocks · errors",
                     f"{c['sold_units']} · {'YES' if hot['oversold'] else 'no'} · {c['deadlocks_reaching_client']}"
                     f" · {sum(c['other_errors'].values())}", "500 · no · 0 · 0", "yes" if hot["ok"] else "**no**"))
    http = (r.get("http") or {}).get("by_clients", {})
    for c, f in http.items():
        target = (f"≥ {TARGETS['http_orders_per_s_8']} · p99 ≤ {TARGETS['http_p99_ms_8']}" if c == "8" else "")
        met = ("yes" if f["orders_per_s"] >= TARGETS["http_orders_per_s_8"] and f["p99_ms"] <= TARGETS["http_p99_ms_8"]
               else "**no**") if c == "8" else ""
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
                         " / ".join(str(v) for v in q["api_by_lines"].values()), "equal",
                         "yes" if len(set(q["api_by_lines"].values())) == 1 else "**no**"))
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
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("| " + " | ".join(str(c).ljust(widths[j]) for j, c in enumerate(row)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
