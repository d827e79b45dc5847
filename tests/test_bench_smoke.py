"""The benchmark package imports and its pure helpers work. No benchmark runs here (that is `make bench`)."""

import importlib

import pytest

BENCH_MODULES = ["bench", "bench.runtime", "bench.stats", "bench.databases", "bench.workers", "bench.load",
                 "bench.sqlcapture", "bench.scenarios", "bench.seed", "bench.__main__", "bench.analytics"]


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_bench_module_imports(name):
    # when
    module = importlib.import_module(name)
    # then
    assert module.__doc__


def test_percentiles_interpolate_between_samples():
    from bench.stats import latency_ms, percentile

    # given
    samples = [float(x) for x in range(1, 101)]
    # then
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile([], 50) is None
    assert latency_ms([0.010, 0.020, 0.030]) == {"p50_ms": 20.0, "p95_ms": 29.0, "p99_ms": 29.8}


def test_pgbench_rendering_swaps_values_for_expressions_one_by_one():
    from bench.sqlcapture import _render

    # given a statement as Django runs it, and the values that identify the captured order
    sql = 'INSERT INTO t (order_id, product_id, label, key, n) VALUES (%s, %s, %s, %s, %s) WHERE x LIKE \'a%%\''
    params = [1000001, [200, 500], "order-event:1000001", "a" * 32, 2]
    subst = {1000001: "(SELECT currval('o'))", 200: ":p1", 500: ":p2"}
    # when
    text = _render(sql, params, subst, {1000001: "(SELECT currval('o'))"}, None)
    # then
    assert "(SELECT currval('o')), ARRAY[:p1, :p2]" in text
    assert "('order-event:' || ((SELECT currval('o')))::text)" in text
    assert "md5(:client_id::text || '-' || :rk::text)" in text
    assert text.endswith(", 2) WHERE x LIKE 'a%'")


def test_results_table_marks_missed_targets():
    from bench.__main__ import summarise, table

    # given
    results = {"queries_per_order": {"by_lines": {"1": {"queries": 13}, "5": {"queries": 13}, "20": {"queries": 13}},
                                     "equal": True}}
    # when
    text = table(results, summarise(results))
    # then
    assert "13 / 13 / 13" in text
    assert "**no**" in text


def test_the_report_draws_each_figure_that_ran(tmp_path):
    import json

    from bench import report

    results = {
        "date": "2026-11-22T06:03:24+00:00",
        "service": {"1": {"orders_per_s": 105.5, "p50_ms": 9.3, "p95_ms": 11.8, "p99_ms": 14.6},
                    "2": {"orders_per_s": 221.7, "p50_ms": 9.0, "p95_ms": 11.5, "p99_ms": 14.6}},
        "pgbench": {"by_clients": {"1": {"tps": 260.6}, "2": {"tps": 548.7}}},
        "pages": {"orders": 1000007, "api_order_detail": {"p95_ms": 13.7, "p50_ms": 10.5}},
        "summary": {"ratio": 0.281},
    }

    page = report.write(results, tmp_path / "report.html").read_text()

    # the figures reach the page as JSON for Chart.js, side by side with pgbench and the targets
    data = json.loads(page.split('id="bench-data" type="application/json">')[1].split("</script>")[0])
    assert data["throughput"] == {"labels": ["N = 1", "N = 2"], "waybill": [105.5, 221.7], "pgbench": [260.6, 548.7]}
    assert data["pages"]["p95"] == [13.7] and data["pages"]["target"] == [20]
    assert "http" not in data and 'id="http"' not in page  # HTTP did not run: no empty chart
    assert "chart.umd.js" in page


def test_the_analytics_rows_mark_missed_targets():
    from bench.__main__ import summarise, table

    # given a dashboard over its target and panels under theirs
    page = {"p50_ms": 100.0, "p95_ms": 120.0, "queries": 9}
    results = {"analytics": {"orders": 1000000, "refresh": {"median_s": 0.4},
                             "dashboard": {"p50_ms": 1400.0, "p95_ms": 1600.0, "queries": 40},
                             **{k: page for k in ("sales", "customers", "fulfilment", "aftersales", "stock")}}}
    # when
    text = table(results, summarise(results))
    # then
    assert "9. Analytics, the whole dashboard (five panels), 30 days (1,000,000 orders) | p50 / p95 ms" in text
    assert "1400.0 / 1600.0 · 40" in text and "**no**" in text
    assert text.count("| yes") == 5
