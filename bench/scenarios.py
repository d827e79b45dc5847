"""The benchmark scenarios. Each returns plain data for the table and bench/results/latest.json."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inventory.models import Product, StockLevel, StockMovement, Warehouse
from inventory.services import stock_receive
from orders.models import Allocation, Order, OrderLine

from . import cpu, load, sqlcapture
from .runtime import BENCH_DB, PG_SERVER, PYTHON, ROOT, env_for
from .stats import latency_ms, median_of, percentile

HERE = Path(__file__).resolve().parent


# --- 5. queries per order -----------------------------------------------------------------------------------
def queries_per_order() -> dict:
    sqlcapture.capture(lines=2)  # a first order in this process warms its caches (content types)
    out = {}
    for lines in (1, 5, 20):
        captured, _, _ = sqlcapture.capture(lines=lines)
        statements = [q["sql"] for q in captured]
        out[str(lines)] = {"queries": len(statements),
                           "without_begin_commit": sum(s not in ("BEGIN", "COMMIT") for s in statements)}
    counts = {v["queries"] for v in out.values()}
    # The same through the API (token authentication, placement, and the detail it answers with).
    from rest_framework.authtoken.models import Token

    customer = load._customer(91)
    token = Token.objects.get_or_create(user=customer)[0].key
    client = Client()
    api = {}
    # a first request caches the token's user (config/authentication.py), as every later request of a client finds it
    client.post("/api/orders/", {"shipping_address": load.ADDRESS, "lines": load.random_lines(random.Random(0))},
                content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}",
                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    for lines in (1, 5, 20):
        body = {"shipping_address": load.ADDRESS, "lines": load.random_lines(random.Random(lines), count=lines)}
        with CaptureQueriesContext(connection) as ctx:
            response = client.post("/api/orders/", body, content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Token {token}", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/orders/ answered {response.status_code}: {response.content[:300]}")
        api[str(lines)] = len(ctx.captured_queries)
    return {"by_lines": out, "equal": len(counts) == 1, "api_by_lines": api,
            "statements": [" ".join(s.split())[:90] for s in statements]}  # the 20-line order, in order


# --- 1. service placement -----------------------------------------------------------------------------------
def service_placement(pool, *, clients, duration: float, repeats: int, relay=None) -> dict:
    """`relay` (bench.relay.Relay): the outbox relay running beside the workers; its CPU per order is reported
    beside theirs, and each run waits for it to catch up (`relay_caught_up_s`)."""
    out = {}
    for n in clients:
        runs = []
        for rep in range(repeats):
            meter = cpu.Meter(db=lambda: cpu.backends(BENCH_DB), app=relay.pids if relay else None).start()
            results = pool.run(n, "place_orders", duration=duration, seed=rep)
            caught_up = relay.caught_up() if relay else None
            used = meter.stop()
            db_cpu_s = used["db_cpu_s"]
            latencies = [x for r in results for x in r["latencies"]]
            errors: dict[str, int] = {}
            for r in results:
                for name, count in r["errors"].items():
                    errors[name] = errors.get(name, 0) + count
            cpu_ms = 1000 * sum(r["cpu_s"] for r in results) / max(len(latencies), 1)
            runs.append({"orders_per_s": len(latencies) / duration, **latency_ms(latencies), "errors": errors,
                         "client_cpu_ms_per_order": cpu_ms,
                         "db_cpu_ms_per_order": 1000 * db_cpu_s / max(len(latencies), 1),
                         "relay_cpu_ms_per_order": (1000 * used["app_cpu_s"] / max(len(latencies), 1)
                                                    if relay and relay.pids() else None),
                         "relay_caught_up_s": caught_up})
        figures = median_of(runs, ["orders_per_s", "p50_ms", "p95_ms", "p99_ms", "client_cpu_ms_per_order",
                                   "db_cpu_ms_per_order", "relay_cpu_ms_per_order", "relay_caught_up_s"])
        figures["runs"] = [round(r["orders_per_s"], 1) for r in runs]
        figures["errors"] = {}
        for run in runs:
            for name, count in run["errors"].items():
                figures["errors"][name] = figures["errors"].get(name, 0) + count
        out[str(n)] = figures
    return out


# --- 2. pgbench on the same SQL -----------------------------------------------------------------------------
def pgbench(*, clients, duration: float, repeats: int, detail_seconds: int = 3) -> dict:
    script, statements, captured = sqlcapture.pgbench_script()
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    path = results_dir / "order_place.pgbench.sql"
    path.write_text(script)
    # The protocol the application uses: prepared statements when its connections prepare them (config.settings.
    # base, DATABASE_PREPARED_STATEMENTS), else psycopg's client-side binding, which pgbench's simple protocol is.
    options = connection.settings_dict.get("OPTIONS", {})
    mode = "prepared" if options.get("server_side_binding") and options.get("prepare_threshold") is not None \
        else "simple"
    # and its sessions' settings (the plan cache mode the settings give a direct connection)
    env = {**os.environ, "PGOPTIONS": options["options"]} if options.get("options") else None
    out = {"script": str(path.relative_to(ROOT)), "statements": statements, "protocol": mode, "by_clients": {}}
    for n in clients:
        runs, failed = [], 0
        for _ in range(repeats):
            proc = subprocess.run(
                ["pgbench", "-n", "-M", mode, "-c", str(n), "-j", str(min(n, 2)), "-T", str(int(duration)),
                 "-f", str(path), f"{PG_SERVER}/{BENCH_DB}"],
                capture_output=True, text=True, env=env,
            )
            match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", proc.stdout)
            lat = re.search(r"latency average = ([\d.]+) ms", proc.stdout)
            fail = re.search(r"number of failed transactions: (\d+)", proc.stdout)
            failed += int(fail.group(1)) if fail else 0
            if proc.returncode != 0 or not match:
                raise RuntimeError(f"pgbench failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
            runs.append({"tps": float(match.group(1)), "latency_avg_ms": float(lat.group(1)) if lat else None})
        figures = median_of(runs, ["tps", "latency_avg_ms"])
        figures["runs"] = [round(r["tps"], 1) for r in runs]
        figures["failed"] = failed
        out["by_clients"][str(n)] = figures
    # Where one transaction's time goes: per-statement latency with one client (COMMIT is the fsync).
    proc = subprocess.run(
        ["pgbench", "-n", "-M", mode, "-c", "1", "-T", str(detail_seconds), "-r", "-f", str(path),
         f"{PG_SERVER}/{BENCH_DB}"],
        capture_output=True, text=True, env=env,
    )
    per_statement = []
    for line in proc.stdout.splitlines():
        match = re.match(r"\s+([\d.]+)\s+\d+\s+(.*)$", line)
        if match and not match.group(2).startswith("\\set"):
            per_statement.append([float(match.group(1)), " ".join(match.group(2).split())[:70]])
    out["statement_ms_one_client"] = per_statement
    return out


# --- 3. hot SKU ---------------------------------------------------------------------------------------------
HOT_UNITS = 500


def _hot_product(run: int, units: int) -> Product:
    product = Product.objects.create(sku=f"HOT-{int(time.time())}-{run}", name="Flash sale item", price="9.99")
    warehouse = Warehouse.objects.order_by("priority", "code").first()
    stock_receive(product=product, warehouse=warehouse, quantity=units, reason="flash sale stock")
    return product


def _hot_checks(product: Product, results: list[dict], units: int = HOT_UNITS) -> dict:
    lines = OrderLine.objects.filter(product=product)
    sold_lines = lines.aggregate(units=Sum("quantity"))["units"] or 0
    allocations = Allocation.objects.filter(product=product).aggregate(units=Sum("quantity"))["units"] or 0
    level = StockLevel.objects.get(product=product)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT coalesce(min(on_hand - allocated), 0) FROM (
                  SELECT sum(on_hand_delta) OVER w AS on_hand, sum(allocated_delta) OVER w AS allocated
                  FROM {StockMovement._meta.db_table} WHERE product_id = %s WINDOW w AS (ORDER BY id)) ledger""",
            [product.pk],
        )
        lowest_available = cursor.fetchone()[0]
    client_successes = sum(len(r["latencies"]) for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for name, count in r["errors"].items():
            errors[name] = errors.get(name, 0) + count
    deadlocks = sum(count for name, count in errors.items() if "40P01" in name or "eadlock" in name)
    checks = {
        "sold_units": sold_lines,
        "client_successes": client_successes,
        "allocated_units": allocations,
        "level_on_hand": level.on_hand,
        "level_allocated": level.allocated,
        "lowest_available_in_ledger": lowest_available,
        "deadlocks_reaching_client": deadlocks,
        "other_errors": errors,
    }
    checks["ok"] = (
        sold_lines == units == client_successes == allocations == level.allocated
        and level.on_hand == units and lowest_available >= 0 and level.available >= 0
        and deadlocks == 0 and not errors
    )
    checks["oversold"] = sold_lines > units or allocations > units or level.available < 0
    return checks


def hot_sku(pool, *, workers: int, repeats: int, units: int = HOT_UNITS, relay=None) -> dict:
    runs = []
    for rep in range(repeats):
        product = _hot_product(rep, units)
        results = pool.run(workers, "buy_hot", sku=product.sku, start_in=0.5)
        if relay:
            relay.caught_up()
        start = min(r["start_at"] for r in results)
        done = [t for r in results for t in r["done_at"]]
        latencies = [x for r in results for x in r["latencies"]]
        elapsed = (max(done) - start) if done else None
        checks = _hot_checks(product, results, units)
        runs.append({"orders_per_s": (len(done) / elapsed) if elapsed else None, **latency_ms(latencies),
                     "checks": checks})
    figures = median_of(runs, ["orders_per_s", "p50_ms", "p95_ms", "p99_ms"])
    figures["runs"] = [round(r["orders_per_s"] or 0, 1) for r in runs]
    figures["checks"] = [r["checks"] for r in runs]
    figures["ok"] = all(r["checks"]["ok"] for r in runs)
    figures["oversold"] = any(r["checks"]["oversold"] for r in runs)
    figures["workers"], figures["units"] = workers, units
    return figures


# --- 4. HTTP ------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, timeout: float = 30, process: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before it answered")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def run_wrk(url: str, *, script: str, connections: int, duration: float, env: dict[str, str]) -> dict:
    """wrk with one of our Lua scripts, which prints one WRK_JSON line: its figures as a dict."""
    proc = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{max(1, int(duration))}s", "--timeout", "10s",
         "-s", str(HERE / script), url],
        capture_output=True, text=True, env={**os.environ, **env},
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(line[len("WRK_JSON "):])


def _wrk(port: int, *, connections: int, duration: float, tokens: list[str], server_pid: int | None = None,
         warm_up: bool = False, relay=None) -> dict:
    """One wrk run. The application's CPU is gunicorn's processes and, with `relay`, the outbox relay's."""
    relay_pids = relay.pids if relay else list
    meter = cpu.Meter(app=(lambda: cpu.group(server_pid) + relay_pids()) if server_pid else None,
                      db=lambda: cpu.backends(BENCH_DB)).start()
    raw = run_wrk(f"http://127.0.0.1:{port}/api/orders/", script="wrk_orders.lua", connections=connections,
                  duration=duration, env={"WAYBILL_TOKENS": ",".join(tokens)})
    caught_up = relay.caught_up() if relay else None
    seconds = raw["duration_us"] / 1e6
    if not raw["created"] and not warm_up:  # a warm-up may end before the workers' first answers
        raise RuntimeError(f"no order was created in {seconds:.1f} s ({raw['not_created']} other answers, "
                           f"{raw['socket_errors']} failed requests)")
    used = meter.stop()
    created = raw["created"] or None  # per order: none in a warm-up that ended before the first answer
    return {"orders_per_s": raw["created"] / seconds, "p50_ms": raw["p50_us"] / 1000,
            "p95_ms": raw["p95_us"] / 1000, "p99_ms": raw["p99_us"] / 1000, "not_created": raw["not_created"],
            "socket_errors": raw["socket_errors"],
            "app_cpu_ms_per_order": 1000 * used["app_cpu_s"] / created if server_pid and created else None,
            "db_cpu_ms_per_order": 1000 * used["db_cpu_s"] / created if created else None,
            "relay_caught_up_s": caught_up}


def _answers(port: int, path: str) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False


def gunicorn(*, workers: int, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    """gunicorn serving the application on a free port (sync workers, as the Procfile runs it): (process, port),
    once it answers. The application is loaded before the workers fork (--preload), so every worker is up when
    the first one answers; a warm-up run still precedes each measurement. Stop it with stop_gunicorn()."""
    port = _free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "config.wsgi:application", "--workers", str(workers), "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning", "--preload"],
        cwd=ROOT, env={**env_for(BENCH_DB), **(env or {})}, start_new_session=True,
    )
    try:
        _wait_for(port, process=server)
        deadline = time.time() + 60
        while not _answers(port, "/health/live/"):
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn does not answer GET /health/live/")
            time.sleep(0.1)
    except Exception:
        stop_gunicorn(server)
        raise
    return server, port


def stop_gunicorn(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def customer_tokens(n: int = 32) -> list[str]:
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    return [Token.objects.get_or_create(user=u)[0].key
            for u in User.objects.filter(username__startswith="customer400").order_by("pk")[:n]]


def http(*, concurrency, duration: float, repeats: int, env: dict[str, str] | None = None,
         server: tuple[subprocess.Popen, int] | None = None, relay=None) -> dict:
    """POST /api/orders/ with wrk against gunicorn: `server` (process, port), or one started here (`env`: the
    pooler scenario points it at PgBouncer). Beside the figures: the CPU gunicorn's processes and the database's
    backends spent per order."""
    tokens = customer_tokens()
    workers = 2 * (os.cpu_count() or 1)
    own = server is None
    if own:
        server = gunicorn(workers=workers, env=env)
    process, port = server
    try:
        _wrk(port, connections=workers, duration=2, tokens=tokens, warm_up=True, relay=relay)  # warm every worker
        out = {"workers": workers, "by_clients": {}}
        for c in concurrency:
            runs = [_wrk(port, connections=c, duration=duration, tokens=tokens, server_pid=process.pid, relay=relay)
                    for _ in range(repeats)]
            figures = median_of(runs, ["orders_per_s", "p50_ms", "p95_ms", "p99_ms", "app_cpu_ms_per_order",
                                       "db_cpu_ms_per_order", "relay_caught_up_s"])
            figures["runs"] = [round(r["orders_per_s"], 1) for r in runs]
            figures["not_created"] = sum(r["not_created"] for r in runs)
            figures["socket_errors"] = sum(r["socket_errors"] for r in runs)
            out["by_clients"][str(c)] = figures
        return out
    finally:
        if own:
            stop_gunicorn(process)


# --- 6. pages at scale --------------------------------------------------------------------------------------
def _time_page(client: Client, paths: list[str], *, headers: dict | None = None) -> dict:
    headers = headers or {}
    for path in paths[:3]:  # warm-up: templates, caches, connection
        client.get(path, **headers)
    timings = []
    for path in paths:
        t = time.perf_counter()
        response = client.get(path, **headers)
        timings.append(time.perf_counter() - t)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
    counts = set()
    for path in paths[:3]:
        with CaptureQueriesContext(connection) as ctx:
            client.get(path, **headers)
        counts.add(len(ctx.captured_queries))
    ms = [x * 1000 for x in timings]
    return {"p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "queries": max(counts), "requests": len(paths)}


def pages(*, samples: int) -> dict:
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    # A member of "Warehouse staff", not a superuser: permission checks cost what they cost in real use.
    staff_user, created = User.objects.get_or_create(username="bench-staff", defaults={
        "is_staff": True, "email": "bench-staff@example.com"})
    if created:
        staff_user.groups.add(Group.objects.get(name="Warehouse staff"))
    r = random.Random(5)
    # Random orders over the seeded range (ids above it belong to orders this run placed, if any).
    top = Order.objects.filter(pk__lt=10_000_000).order_by("-pk").values_list("pk", flat=True).first()
    numbers = []
    while len(numbers) < samples:
        ids = [r.randint(1, top) for _ in range(samples)]
        numbers += list(Order.objects.filter(pk__in=ids).values_list("number", "customer_id"))
    numbers = numbers[:samples]
    r.shuffle(numbers)
    staff = Client()
    staff.force_login(staff_user)
    out = {"orders": Order.objects.count()}
    out["admin_changelist"] = _time_page(staff, ["/admin/orders/order/"] * samples)
    statuses = ["processing", "on_hold", "delivered", "placed", "cancelled"]
    out["admin_changelist_status"] = _time_page(
        staff, [f"/admin/orders/order/?status__exact={statuses[i % len(statuses)]}" for i in range(samples)])
    out["admin_changelist_search"] = _time_page(
        staff, [f"/admin/orders/order/?q={number}" for number, _ in numbers[:samples]])
    staff_token = Token.objects.get_or_create(user=staff_user)[0].key
    api = Client()
    out["api_order_detail"] = _time_page(
        api, [f"/api/orders/{number}/" for number, _ in numbers[:samples]],
        headers={"HTTP_AUTHORIZATION": f"Token {staff_token}"})
    # A customer's own list: customers drawn as orders are (heavy buyers appear as often as they buy).
    customers = [c for _, c in numbers if c][: max(10, samples // 5)]
    tokens = {c: Token.objects.get_or_create(user_id=c)[0].key for c in customers}
    timings = []
    queries = set()
    for c in customers[:3]:
        api.get("/api/orders/", HTTP_AUTHORIZATION=f"Token {tokens[c]}")
    for i in range(samples):
        c = customers[i % len(customers)]
        t = time.perf_counter()
        response = api.get("/api/orders/", HTTP_AUTHORIZATION=f"Token {tokens[c]}")
        timings.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"customer order list answered {response.status_code}")
    with CaptureQueriesContext(connection) as ctx:
        api.get("/api/orders/", HTTP_AUTHORIZATION=f"Token {tokens[customers[0]]}")
    queries.add(len(ctx.captured_queries))
    out["api_customer_order_list"] = {"p50_ms": round(percentile(timings, 50), 1),
                                      "p95_ms": round(percentile(timings, 95), 1), "queries": max(queries),
                                      "requests": samples, "customers": len(customers)}
    out.update(_portal_pages(customers, samples=samples))
    out.update(_return_pages(staff, api, staff_token, samples=samples))
    out.update(_support_pages(numbers, samples=samples))
    out.update(_warehouse_pages(staff, numbers, samples=samples))
    return out


def _warehouse_pages(staff, numbers: list, *, samples: int) -> dict:
    """The warehouse and order desk at scale: the order page, the search by part of a number and by a name, the
    fulfilment queue per warehouse, and the API search."""
    from inventory.models import Warehouse

    orders = list(Order.objects.filter(number__in=[n for n, _ in numbers]).values_list("pk", "number", "ship_name"))
    codes = list(Warehouse.objects.filter(active=True).values_list("code", flat=True)) or [""]
    r = random.Random(13)
    return {
        "admin_order_page": _time_page(staff, [f"/admin/orders/order/{orders[i % len(orders)][0]}/change/"
                                               for i in range(samples)]),
        "admin_search_partial_number": _time_page(
            staff, [f"/admin/orders/order/?q={r.choice(orders)[1][3:9]}" for _ in range(samples)]),
        "admin_search_name": _time_page(staff, [f"/admin/orders/order/?q={r.choice(orders)[2]}"
                                                for _ in range(samples)]),
        "fulfilment_queue": _time_page(staff, [f"/admin/shipping/fulfilmentqueue/?warehouse={codes[i % len(codes)]}"
                                               for i in range(samples)]),
        **_identifier_searches(staff, "/admin/orders/order/?q=", "admin", samples=samples),
    }


def _identifiers(samples: int) -> tuple[list[str], list[str]]:
    """Serial numbers of units with customers and tracking numbers of parcels, drawn at random."""
    from inventory.models import Unit
    from shipping.models import Shipment

    r = random.Random(17)
    top = Unit.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    serials = list(Unit.objects.filter(pk__in=[r.randint(1, top) for _ in range(4 * samples)],
                                       status=Unit.Status.WITH_CUSTOMER).values_list("serial", flat=True)[:samples])
    top = Shipment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    tracking = list(Shipment.objects.filter(pk__in=[r.randint(1, top) for _ in range(4 * samples)])
                    .exclude(tracking_number="").values_list("tracking_number", flat=True)[:samples])
    return serials, tracking


def _identifier_searches(client, prefix: str, name: str, *, samples: int) -> dict:
    """The search box given a whole serial number or tracking number (found through the shipping app's finder)."""
    serials, tracking = _identifiers(samples)
    out = {}
    if serials:
        out[f"{name}_search_serial"] = _time_page(client, [f"{prefix}{serials[i % len(serials)]}"
                                                           for i in range(samples)])
    if tracking:
        out[f"{name}_search_tracking"] = _time_page(client, [f"{prefix}{tracking[i % len(tracking)]}"
                                                             for i in range(samples)])
    return out


def _portal_pages(customers: list, *, samples: int) -> dict:
    """The customer's order page (story, parcels, returns) and order list, for customers drawn as orders are."""
    User = get_user_model()
    customer = User.objects.get(pk=customers[0])
    numbers = list(Order.objects.filter(customer=customer).order_by("?").values_list("number", flat=True)[:samples])
    portal = Client()
    portal.force_login(customer)
    return {
        "portal_order": _time_page(portal, [f"/orders/{numbers[i % len(numbers)]}/" for i in range(samples)]),
        "portal_orders": _time_page(portal, ["/orders/"] * samples),
    }


def _support_pages(numbers: list, *, samples: int) -> dict:
    """The agent workspace at scale: a queue, a ticket page with its case, and search by part of an order
    number, a name and an email over every order (the trigram index)."""
    from support.models import Ticket
    from support.services import ticket_open

    User = get_user_model()
    agent, created = User.objects.get_or_create(username="bench-agent", defaults={
        "is_staff": True, "email": "bench-agent@example.com"})
    if created:
        agent.groups.add(Group.objects.get(name="Support agents"))
    orders = list(Order.objects.filter(number__in=[n for n, _ in numbers[:30]]))
    if Ticket.objects.count() < 30:
        for order in orders:
            ticket_open(subject="Where is my parcel?", body="It has not arrived.", email=order.email,
                        customer=order.customer, order=order, notify=False)
    tickets = list(Ticket.objects.order_by("-pk").values_list("number", flat=True)[:samples])
    desk = Client()
    desk.force_login(agent)
    people = [(o.number, o.ship_name, o.email) for o in orders] or [("WB-", "Recipient", "customer")]
    r = random.Random(11)
    return {
        "desk_queue": _time_page(desk, ["/support/queue/active/"] * samples),
        "desk_ticket": _time_page(desk, [f"/support/tickets/{tickets[i % len(tickets)]}/" for i in range(samples)]),
        "desk_search_number": _time_page(desk, [f"/support/search/?q={r.choice(people)[0][3:9]}"
                                                for _ in range(samples)]),
        "desk_search_name": _time_page(desk, [f"/support/search/?q={r.choice(people)[1]}" for _ in range(samples)]),
        "desk_search_email": _time_page(desk, [f"/support/search/?q={r.choice(people)[2]}" for _ in range(samples)]),
        **_identifier_searches(desk, "/support/search/?q=", "desk", samples=samples),
    }


def _return_pages(staff, api, token: str, *, samples: int) -> dict:
    """The returns pages people use all day: the admin list (plain, by status, by reason, by return number) and the
    API list and detail, over the returns seeded on 2 % of delivered orders."""
    from returns.models import ReturnRequest

    numbers = list(ReturnRequest.objects.order_by("?").values_list("number", flat=True)[:samples])
    if not numbers:
        return {}
    statuses = ["requested", "awaiting_item", "received", "resolved"]
    reasons = ["defective", "damaged_in_transit", "no_longer_wanted"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    return {
        "returns": ReturnRequest.objects.count(),
        "admin_returns": _time_page(staff, ["/admin/returns/returnrequest/"] * samples),
        "admin_returns_status": _time_page(
            staff, [f"/admin/returns/returnrequest/?status__exact={statuses[i % 4]}" for i in range(samples)]),
        "admin_returns_reason": _time_page(
            staff, [f"/admin/returns/returnrequest/?reason={reasons[i % 3]}" for i in range(samples)]),
        "admin_returns_search": _time_page(staff, [f"/admin/returns/returnrequest/?q={n}" for n in numbers]),
        "api_return_list": _time_page(api, ["/api/returns/"] * samples, headers=auth),
        "api_return_detail": _time_page(api, [f"/api/returns/{n}/" for n in numbers], headers=auth),
    }


# --- 8. a background export of every order ----------------------------------------------------------------
def order_export() -> dict:
    """The whole order list written to CSV by the export job, as a worker runs it (in this process)."""
    from orders.exports import PROGRESS_EVERY, export_job_run
    from orders.models import ExportJob

    job = ExportJob.objects.create(params={})
    started = time.perf_counter()
    done = export_job_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    if done is None or done.status != ExportJob.Status.DONE:
        raise RuntimeError(f"the export did not finish: {getattr(done, 'error', 'not claimed')}")
    size = done.file.size
    done.file.delete(save=False)
    return {"rows": done.done_rows, "seconds": round(seconds, 1), "rows_per_s": int(done.done_rows / seconds),
            "bytes": size, "progress_updates": done.done_rows // PROGRESS_EVERY}


# --- 7. notification latency --------------------------------------------------------------------------------
def notification_latency(*, n: int) -> dict:
    try:
        from bench import notification_latency as module
    except ImportError as exc:
        return {"available": False, "reason": f"not available ({exc})"}
    if not hasattr(module, "run"):
        return {"available": False, "reason": "not available (bench/notification_latency.py has no run())"}
    try:
        result = module.run(n=n)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal for the other figures
        return {"available": False, "reason": f"failed: {type(exc).__name__}: {exc}"}
    figures = {"available": True}
    if isinstance(result, dict):
        for q in (50, 95, 99):
            value = next((result[k] for k in (f"p{q}_ms", f"p{q}") if k in result), None)
            figures[f"p{q}_ms"] = round(value, 1) if isinstance(value, int | float) else value
        figures["raw"] = {k: v for k, v in result.items() if isinstance(v, int | float | str | bool | None)}
    else:
        figures["raw"] = repr(result)
    return figures

