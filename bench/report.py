"""The figures of a run as charts: bench/results/report.html, next to the JSON it is drawn from.

Chart.js 4 comes from npm (`npm ci` at the top of the repository, which `make bench` runs); the figures are
handed to the page with Django's `json_script`. `python -m bench.report` redraws the latest run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string

from .runtime import RESULTS

PAGE_TARGETS_MS = {  # p95 goals from the benchmark's brief
    "admin_changelist": ("Admin changelist", 100),
    "admin_changelist_status": ("Admin changelist, by status", 100),
    "admin_changelist_search": ("Admin changelist, number search", 100),
    "api_order_detail": ("API order detail", 20),
    "api_customer_order_list": ("API customer's order list", 30),
    "admin_order_page": ("Admin order page", 100),
    "admin_search_partial_number": ("Admin search, part of a number", 100),
    "admin_search_name": ("Admin search, a name", 100),
    "fulfilment_queue": ("Fulfilment queue", 100),
}


def chart_data(results: dict) -> dict:
    """What the charts draw, from a run's results (scenarios that did not run are left out)."""
    data: dict = {"date": results.get("date", ""), "summary": results.get("summary", {}),
                  "not_run": results.get("not_run") or {}}
    results = {k: v for k, v in results.items() if not (isinstance(v, dict) and "not_run" in v)}
    service, pgbench = results.get("service") or {}, (results.get("pgbench") or {}).get("by_clients") or {}
    workers = sorted({*service, *pgbench}, key=int)
    if workers:
        data["throughput"] = {
            "labels": [f"N = {n}" for n in workers],
            "waybill": [service.get(n, {}).get("orders_per_s") for n in workers],
            "pgbench": [pgbench.get(n, {}).get("tps") for n in workers],
        }
    if service:
        data["latency"] = {
            "labels": [f"N = {n}" for n in sorted(service, key=int)],
            **{q: [service[n][f"{q}_ms"] for n in sorted(service, key=int)] for q in ("p50", "p95", "p99")},
        }
    pages = results.get("pages") or {}
    shown = [key for key in PAGE_TARGETS_MS if key in pages]
    if shown:
        data["pages"] = {
            "orders": pages.get("orders"),
            "labels": [PAGE_TARGETS_MS[key][0] for key in shown],
            "p95": [pages[key]["p95_ms"] for key in shown],
            "target": [PAGE_TARGETS_MS[key][1] for key in shown],
        }
    http = (results.get("http") or {}).get("by_clients") or {}
    if http:
        clients = sorted(http, key=int)
        data["http"] = {
            "labels": [f"{c} clients" for c in clients],
            "orders_per_s": [http[c]["orders_per_s"] for c in clients],
            "p99": [http[c]["p99_ms"] for c in clients],
        }
    tracking = (results.get("tracking") or {}).get("by_clients") or {}
    if tracking:
        clients = sorted(tracking, key=int)
        data["tracking"] = {
            "labels": [f"{c} clients" for c in clients],
            "pages_per_s": [tracking[c]["pages_per_s"] for c in clients],
            "p99": [tracking[c]["p99_ms"] for c in clients],
        }
    return data


def write(results: dict, path: Path | None = None) -> Path:
    path = path or RESULTS / "report.html"
    chart_js = Path(settings.BASE_DIR) / "node_modules" / "chart.js" / "dist" / "chart.umd.js"
    html = render_to_string("bench/report.html", {
        "data": chart_data(results),
        "chart_js": os.path.relpath(chart_js, path.parent),
        "chart_js_missing": not chart_js.exists(),
        "results_json": json.dumps(results.get("summary", {}), indent=2),
    })
    path.write_text(html)
    return path


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    print(write(json.loads((RESULTS / "latest.json").read_text())))
