"""The analytics dashboard at scale (`python -m bench --only analytics`): every panel's page and the whole dashboard
at a million orders, signed in as an "Analysts" member (not a superuser). The last 30 days (the default) in a
rotation of filters (none, a warehouse, a channel, the same days a year earlier), then 90 days and 12 months
(by week); p50/p95 and the query count of each. Also the periodic refresh of the rollups (the open days) as the
task runs it.

Targets: every panel p95 ≤ 500 ms, the whole dashboard p95 ≤ 1,500 ms (for every range)."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from .stats import percentile

PANEL_TARGET_MS = 500
DASHBOARD_TARGET_MS = 1500
PAGES = {"dashboard": "/analytics/", "sales": "/analytics/sales/", "customers": "/analytics/customers/",
         "fulfilment": "/analytics/fulfilment/", "aftersales": "/analytics/aftersales/", "stock": "/analytics/stock/"}
LABELS = {"dashboard": "the whole dashboard (five panels)", "sales": "sales panel", "customers": "customers panel",
          "fulfilment": "fulfilment panel", "aftersales": "after-sales and support panel", "stock": "stock panel"}


LONG = ["range=90", "range=365"]


def _variants() -> list[str]:
    from inventory.models import Warehouse

    second = Warehouse.objects.order_by("priority", "code").values_list("code", flat=True)[1:2]
    return ["", f"warehouse={second[0] if second else ''}", "channel=phone", "compare=year"]


def run(*, samples: int, smoke: bool = False) -> dict:
    """`smoke`: each page once per filter and range (the smoke test only shows that the machinery works)."""
    from orders.models import Order

    from .scenarios import _time_page

    User = get_user_model()
    user, created = User.objects.get_or_create(username="bench-analyst", defaults={
        "is_staff": True, "email": "bench-analyst@example.com"})
    if created:
        user.groups.add(Group.objects.get(name="Analysts"))
    client = Client()
    client.force_login(user)
    variants = _variants()
    out: dict = {"orders": Order.objects.count(), "refresh": _refresh(), "variants": variants}
    for key, path in PAGES.items():
        paths = [f"{path}?{variants[i % len(variants)]}" for i in range(samples)]
        out[key] = _time_page(client, paths)
        out[key]["by_variant_p50_ms"] = _by_variant(client, path, variants, repeats=1 if smoke else 3)
        for variant in LONG:
            out[key][variant] = _time_page(client, [f"{path}?{variant}"] * (samples if smoke else max(5, samples // 6)))
    return out


def _refresh() -> dict:
    """The periodic task's work on an idle shop: today's and yesterday's orders recomputed, three times."""
    from analytics.rollups import rollups_refresh

    runs = []
    for _ in range(3):
        started = time.perf_counter()
        run = rollups_refresh()
        runs.append({"seconds": round(time.perf_counter() - started, 3), "kind": run.kind, "orders": run.orders,
                     "days": run.days})
    return {"runs": runs, "median_s": sorted(r["seconds"] for r in runs)[1]}


def _by_variant(client: Client, path: str, variants: list[str], *, repeats: int) -> dict:
    out = {}
    for variant in variants:
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            client.get(f"{path}?{variant}")
            timings.append((time.perf_counter() - started) * 1000)
        out[variant or "30 days"] = round(percentile(timings, 50), 1)
    return out


def table_rows(results: dict) -> list[tuple]:
    """Rows of the benchmark's Markdown table (bench/__main__.py)."""
    a = results.get("analytics")
    if not a:
        return []
    rows = []
    for key, label in LABELS.items():
        f = a[key]
        target = DASHBOARD_TARGET_MS if key == "dashboard" else PANEL_TARGET_MS
        rows.append((f"9. Analytics, {label}, 30 days ({a['orders']:,} orders)", "p50 / p95 ms · queries",
                     f"{f['p50_ms']} / {f['p95_ms']} · {f['queries']}", f"p95 ≤ {target}",
                     "yes" if f["p95_ms"] <= target else "**no**"))
        longer = [f.get(v) for v in LONG if f.get(v)]
        if longer:
            rows.append((f"9. Analytics, {label}, 90 days · 12 months", "p50 / p95 ms each",
                         " · ".join(f"{x['p50_ms']} / {x['p95_ms']}" for x in longer), f"p95 ≤ {target}",
                         "yes" if max(x["p95_ms"] for x in longer) <= target else "**no**"))
    rows.append(("9. Analytics rollup refresh (open days)", "median s", str(a["refresh"]["median_s"]), "", ""))
    return rows
