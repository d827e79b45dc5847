"""The benchmark package imports and its pure helpers work. No benchmark runs here (that is `make bench`)."""

import importlib

import pytest

BENCH_MODULES = ["bench", "bench.runtime", "bench.stats", "bench.databases", "bench.workers", "bench.load",
                 "bench.sqlcapture", "bench.scenarios", "bench.seed", "bench.__main__", "bench.tools", "bench.cpu",
                 "bench.pgbouncer", "bench.pooler", "bench.tracking", "bench.after_sales", "bench.task_costs",
                 "bench.growth", "bench.analytics"]


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


def test_a_scenario_that_did_not_run_says_why_in_the_table_and_the_charts(tmp_path):
    from bench import report
    from bench.__main__ import summarise, table

    # given a run whose HTTP scenario could not run and whose queries did
    results = {"http": {"not_run": "wrk not found on PATH"}, "not_run": {"http": "wrk not found on PATH"},
               "queries_per_order": {"by_lines": {"1": {"queries": 12}}, "equal": True}}
    # when its table and charts are made
    text = table(results, summarise(results))
    page = report.write(results, tmp_path / "report.html").read_text()
    # then the table names the scenario and the reason, beside the figures that exist
    assert "| 4. HTTP POST /api/orders/ (wrk) " in text and "| not run " in text and "wrk not found on PATH" in text
    assert "5. Queries per order" in text
    assert 'id="not-run"' in page and "wrk not found on PATH" in page and 'id="http"' not in page


def _fake_program(directory, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


def test_a_missing_program_is_installed_unattended_when_it_can_be(tmp_path, monkeypatch):
    import os

    from bench import tools

    # given no wrk, a dpkg that knows no such package, and an apt-get (and sudo) that can install it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    _fake_program(bin_dir, "dpkg-query", "exit 1")
    _fake_program(bin_dir, "apt-get", f'echo "$DEBIAN_FRONTEND $*" >> {log}\n'
                  f'[ "$1" = install ] && printf "#!/bin/sh\\n" > {bin_dir}/wrk && /bin/chmod +x {bin_dir}/wrk\nexit 0')
    _fake_program(bin_dir, "sudo", '[ "$1" = -n ] && shift\nexec "$@"')
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("BENCH_INSTALL", raising=False)
    monkeypatch.setattr(tools, "_apt_updated", False)
    # when the benchmark asks for wrk
    path, why = tools.ensure("wrk")
    # then it was installed without a question (no stdin, noninteractive) and is found
    assert (path, why) == (str(bin_dir / "wrk"), None)
    assert log.read_text().splitlines() == ["noninteractive update -q",
                                            "noninteractive install -y -q --no-install-recommends wrk"]
    assert os.access(path, os.X_OK)


def test_a_program_that_cannot_be_installed_says_why(tmp_path, monkeypatch):
    from bench import tools

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_program(bin_dir, "dpkg-query", "exit 1")
    monkeypatch.setenv("PATH", str(bin_dir))
    # installing switched off
    monkeypatch.setenv("BENCH_INSTALL", "0")
    assert tools.ensure("wrk") == (None, "wrk not found on PATH and installing is switched off (BENCH_INSTALL=0): "
                                         "apt-get install wrk")
    # no apt-get at all
    monkeypatch.delenv("BENCH_INSTALL")
    assert tools.ensure("wrk")[1] == "wrk not found on PATH and apt-get is not available here: install wrk by hand"
    # neither root nor passwordless sudo
    _fake_program(bin_dir, "apt-get", "exit 0")
    monkeypatch.setattr(tools, "_privilege", lambda: None)
    assert "needs root or passwordless sudo" in tools.ensure("wrk")[1]
    # a program no package of ours brings
    assert tools.ensure("pgbench")[1].startswith("pgbench not found on PATH (it comes with the PostgreSQL server")


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


# --- the whole benchmark, end to end, on a tiny seed -------------------------------------------------------------
# Not for timing: only that every scenario runs and produces its figures (or, with its program hidden, says why
# not), and that the JSON and the charts are written. Its databases are named after the test database, so two
# checkouts never share them, and dropped at the end; its Redis is a private one.
SMOKE_ORDERS = "2000"


def _hidden(directory, program: str) -> str:
    """A PATH with every program of this one but `program` (links in `directory`)."""
    import os

    directory.mkdir()
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            link, target = directory / name, os.path.join(entry, name)
            if name != program and not link.exists() and os.access(target, os.X_OK) and os.path.isfile(target):
                link.symlink_to(target)
    return str(directory)


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory):
    import os
    import shutil

    from django.conf import settings

    from bench import tools
    from tests.conftest import service_missing
    from tests.drills.conftest import PrivateRedis

    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        service_missing("PostgreSQL")
    for program in ("redis-server", "pgbench", "psql", "wrk", "pgbouncer"):
        if tools.find(program) is None and shutil.which(program) is None:
            service_missing(f"{program} (the benchmark's smoke test runs every scenario)")
    test_db = database["TEST"]["NAME"]
    server = f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    redis = PrivateRedis(tmp_path_factory.mktemp("bench-redis")).start()
    env = {**os.environ, "BENCH_PG_SERVER": server, "BENCH_DB": f"waybill_bench_{test_db}"[:63],
           "BENCH_TEMPLATE_DB": f"waybill_bench_template_{test_db}"[:63], "BENCH_REDIS_URL": redis.url,
           "BENCH_ORDERS": SMOKE_ORDERS, "BENCH_INSTALL": "0"}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "DATABASE_POOLER"):
        env.pop(name, None)
    try:
        yield env
    finally:
        redis.stop()
        import psycopg
        from psycopg import sql

        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            for name in (env["BENCH_DB"], env["BENCH_TEMPLATE_DB"]):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_bench(env: dict, *args: str, results) -> tuple[dict, str, str]:
    """`python -m bench --smoke ...`, writing to `results`: (the JSON it wrote, its table, its charts page)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**env, "BENCH_RESULTS": str(results)}
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-4000:]
    results = Path(results)
    return (json.loads((results / "partial.json").read_text()), done.stdout,
            (results / "partial.html").read_text())


@pytest.mark.services
def test_the_whole_bench_runs_end_to_end_and_a_missing_program_only_costs_its_scenarios(bench_env, tmp_path):
    from bench.__main__ import SCENARIOS

    # given wrk is not on PATH (hidden, not uninstalled) and installing is switched off
    env = {**bench_env, "PATH": _hidden(tmp_path / "bin", "wrk")}
    # when the whole benchmark runs
    r, text, page = run_bench(env, results=tmp_path / "results")
    # then the scenarios that need wrk say why they did not run
    assert set(r["not_run"]) == {"http", "tracking"}
    for name in ("http", "tracking"):
        assert "wrk not found on PATH" in r["not_run"][name]
        assert r[name] == {"not_run": r["not_run"][name]}
    assert r["pooler"]["http"]["not_run"].startswith("wrk not found on PATH")
    assert "| not run" in text and "wrk not found on PATH" in text and 'id="not-run"' in page
    # and every other scenario produced its figures
    assert set(SCENARIOS) - set(r["not_run"]) == {
        "queries", "pages", "returns", "replies", "service", "hot", "pgbench", "pooler", "notifications", "tasks",
        "growth", "export", "analytics"}
    assert r["queries_per_order"]["equal"] and r["queries_per_order"]["api_by_lines"]
    assert {"admin_changelist", "portal_order", "admin_search_serial", "admin_search_tracking",
            "desk_search_serial"} <= set(r["pages"])
    assert all(r["pages"][k]["p95_ms"] > 0 for k in r["pages"] if isinstance(r["pages"][k], dict))
    assert all(r["service"][n]["orders_per_s"] > 0 for n in ("1", "2"))
    assert r["hot_sku"]["ok"] and not r["hot_sku"]["oversold"]
    assert all(r["pgbench"]["by_clients"][n]["tps"] > 0 for n in ("1", "2"))
    assert r["returns"]["return"]["p95_ms"] > 0 and r["returns"]["claim"]["queries"] > 0
    assert r["ticket_replies"]["agent"]["p95_ms"] > 0 and r["ticket_replies"]["customer"]["p95_ms"] > 0
    assert r["pooler"]["service"]["2"]["orders_per_s"] > 0
    assert 0 < r["pooler"]["server_connections_max"] <= r["pooler"]["pool_size"]
    assert r["pooler"]["service_pgbouncer"]["transactions"] > 0
    assert r["notifications"]["available"] and r["notifications"]["p95_ms"] > 0
    assert {"email", "webhooks", "staff_alerts"} == set(r["task_costs"])
    assert r["growth"]["tables"]["orders_order"]["rows_per_order"] == 1
    assert r["growth"]["tables"]["orders_orderevent"]["rows_per_order"] > 1
    assert r["export"]["rows"] >= int(SMOKE_ORDERS)
    assert r["summary"]["queries_equal"] and "service_orders_per_s" in r["summary"]
    assert r["analytics"]["dashboard"]["p95_ms"] > 0 and r["analytics"]["sales"]["queries"] > 0
    assert '<canvas id="throughput">' in page


@pytest.mark.services
def test_with_wrk_the_http_scenarios_measure_through_gunicorn(bench_env, tmp_path):
    # when only the scenarios that need wrk run (wrk on PATH; the template the test above seeded is reused)
    r, text, _ = run_bench(bench_env, "--only", "http,tracking", results=tmp_path)
    # then they produce their figures
    assert r["not_run"] == {}
    for c in ("2", "4"):
        assert r["http"]["by_clients"][c]["orders_per_s"] > 0 and r["http"]["by_clients"][c]["socket_errors"] == 0
        assert r["tracking"]["by_clients"][c]["pages_per_s"] > 0
    assert "11. Tracking page GET, 2 clients" in text


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
