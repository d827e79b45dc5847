"""Waybill behind PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer-transaction, docs/scaling.md).

The tests start a private PgBouncer (Debian's /usr/sbin/pgbouncer, bench/pgbouncer.py) on a free port in front of
the shared PostgreSQL and the test database, with a pool of two server connections, and run real work through it:
orders placed from eight threads at once, an export, an idempotent replay through the API, the health check. A
missing pgbouncer fails them with REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, connections
from django.test import Client
from rest_framework.test import APIClient

from bench import tools
from bench.pgbouncer import PgBouncer
from config.settings.base import database_for_pooler
from inventory.errors import OutOfStock
from inventory.models import StockLevel
from orders.exports import export_job_run
from orders.models import ExportJob, Order
from orders.services import order_place
from tests.conftest import service_missing
from tests.drills.conftest import wait_for_other_sessions_to_end
from tests.factories import ADDRESS, CustomerFactory, ProductFactory, order_payload, place_order
from tests.test_deploy import production_says

ROOT = Path(__file__).resolve().parent.parent
POOL_SIZE = 2


# --- the settings -----------------------------------------------------------------------------------------
def postgres_database(**options) -> dict:
    return {"ENGINE": "django.db.backends.postgresql", "NAME": "waybill", "OPTIONS": dict(options)}


def test_behind_a_transaction_pooler_nothing_outlives_a_transaction():
    database = database_for_pooler(postgres_database(connect_timeout=3), "pgbouncer-transaction")
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True  # .iterator() reads a client-side result
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["OPTIONS"] == {"connect_timeout": 3}  # no prepare_threshold: Django's None (never prepare)
    # no pooler: prepared statements (server-side binding, prepared from the 5th run of a statement, still planned
    # for each run's values), and through a pooler again they are taken back
    direct = database_for_pooler(postgres_database(connect_timeout=3), "")
    assert direct["OPTIONS"] == {"connect_timeout": 3, "server_side_binding": True, "prepare_threshold": 5,
                                 "options": "-c plan_cache_mode=force_custom_plan"}
    assert database_for_pooler(direct, "pgbouncer-transaction")["OPTIONS"] == {"connect_timeout": 3}
    assert database_for_pooler(postgres_database(server_side_binding=False, options="-c work_mem=8MB"), "")[
        "OPTIONS"] == {"server_side_binding": False, "prepare_threshold": 5,
                       "options": "-c work_mem=8MB"}  # what the settings chose is kept


@pytest.mark.parametrize("options", [{"server_side_binding": True}, {"prepare_threshold": 5},
                                     {"pool": {"min_size": 2}}, {"assume_role": "waybill_app"}])
def test_options_that_keep_state_in_a_session_are_refused(options):
    with pytest.raises(ImproperlyConfigured, match=next(iter(options))):
        database_for_pooler(postgres_database(**options), "pgbouncer-transaction")


def test_an_unknown_pooler_or_another_database_is_refused():
    with pytest.raises(ImproperlyConfigured, match="must be one of"):
        database_for_pooler(postgres_database(), "pgpool")
    with pytest.raises(ImproperlyConfigured, match="needs PostgreSQL"):
        database_for_pooler({"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}, "pgbouncer-transaction")


def test_production_reads_the_pooler_from_the_environment():
    code = ("from django.conf import settings; d = settings.DATABASES['default']; "
            "print(d.get('DISABLE_SERVER_SIDE_CURSORS'), d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])")
    assert production_says(code, DATABASE_POOLER="pgbouncer-transaction") == "True 60 True"
    assert production_says(code) == "None 60 False"


def test_replicas_behind_the_pooler_get_its_settings_too():
    code = ("from django.conf import settings; d = settings.DATABASES['replica1']; "
            "print(d.get('DISABLE_SERVER_SIDE_CURSORS'), d['CONN_HEALTH_CHECKS'], d['HOST'])")
    replica = "postgres://waybill@replica.example.com:6432/waybill"
    assert production_says(code, DATABASE_POOLER="pgbouncer-transaction",
                           DATABASE_REPLICA_URL=replica) == "True True replica.example.com"


SESSION_STATE = [  # inside a string literal, in capitals as the code base writes SQL
    (re.compile(r"""["'][^"'\n]*pg_(try_)?advisory_lock(_shared)?\s*\("""),
     "session advisory lock: use pg_advisory_xact_lock"),
    (re.compile(r"""["']\s*SET\s+(?!LOCAL\b)(SESSION\s+)?\w+"""),
     "SET: use SET LOCAL inside a transaction"),
    (re.compile(r"""["']\s*(LISTEN|UNLISTEN)\b"""), "LISTEN: needs a session of its own"),
    (re.compile(r"""["'][^"'\n]*WITH\s+HOLD"""), "a holdable cursor outlives its transaction"),
    (re.compile(r"""["']\s*(PREPARE|DEALLOCATE)\s"""), "a prepared statement is per connection"),
    (re.compile(r"""set_config\([^)]*,\s*false\s*\)""", re.IGNORECASE),
     "set_config(..., false) sets it for the session: pass true"),
    # ON COMMIT DROP anywhere before the statement's string ends (a quote and the call's closing parenthesis)
    (re.compile(r"""["'][^"'\n]*CREATE\s+(TEMP|TEMPORARY)\s+TABLE(?!(?:(?!["']\s*\)).)*?ON\s+COMMIT\s+DROP)""",
                re.DOTALL), "a temporary table lives in the session (unless ON COMMIT DROP)"),
]
APPS = ["config", "orders", "inventory", "shipping", "returns", "support", "notifications", "portal", "analytics"]


def test_the_application_keeps_no_state_in_a_database_session():
    """Anything that lives in a server session (not a transaction) breaks behind a transaction pooler."""
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            for pattern, why in SESSION_STATE:
                for match in pattern.finditer(text):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0).strip()} ({why})")
    assert found == []


def test_the_guard_above_recognises_session_state():
    samples = ['cursor.execute("SELECT pg_advisory_lock(42)")', "cursor.execute('SET statement_timeout = 0')",
               'cursor.execute("LISTEN orders")', 'cursor.execute("DECLARE c CURSOR WITH HOLD FOR SELECT 1")',
               'cursor.execute("CREATE TEMP TABLE t (id int)")',
               'cursor.execute("CREATE TEMP TABLE t (id int, "\n    "day date)")\n'
               'cursor.execute("SELECT 1 ON COMMIT DROP")',
               "cursor.execute(\"SELECT set_config('plan_cache_mode', 'force_generic_plan', false)\")"]
    assert all(any(p.search(sample) for p, _ in SESSION_STATE) for sample in samples)
    allowed = ['cursor.execute("SELECT pg_advisory_xact_lock(42)")', "cursor.execute('SET LOCAL lock_timeout = 1')",
               "GENERIC_PLANS = \"set_config('plan_cache_mode', 'force_generic_plan', true)\"",
               'f"UPDATE {table} SET on_hand = on_hand + 1"',
               'cursor.execute("CREATE TEMP TABLE t (id bigint PRIMARY KEY) ON COMMIT DROP")',
               'cursor.execute("CREATE TEMP TABLE t (id bigint PRIMARY KEY, "\n    "day date) ON COMMIT DROP")']
    assert not any(p.search(sample) for sample in allowed for p, _ in SESSION_STATE)


# --- real work through a private PgBouncer ----------------------------------------------------------------
@pytest.fixture
def pgbouncer(postgres):
    if tools.find("pgbouncer") is None:
        service_missing("pgbouncer (Debian package pgbouncer)")
    s = connection.settings_dict
    with PgBouncer(server_host=s["HOST"] or "127.0.0.1", server_port=int(s["PORT"] or 5432),
                   user=s["USER"] or "postgres", pool_size=POOL_SIZE) as bouncer:
        yield bouncer
    wait_for_other_sessions_to_end()  # PostgreSQL ends PgBouncer's sessions a moment after it stopped


@contextlib.contextmanager
def through(bouncer: PgBouncer, *, pooler: str = "pgbouncer-transaction"):
    """Every connection Django opens, in any thread, goes through `bouncer` with the pooler's settings (`pooler=""`:
    Django's own defaults, without what the settings add for a direct connection)."""
    settings_dict = connection.settings_dict  # one dict, shared by the connections of every thread
    saved = dict(settings_dict)
    connections.close_all()
    settings_dict.update(HOST="127.0.0.1", PORT=str(bouncer.port))
    if pooler:
        database_for_pooler(settings_dict, pooler)
    else:
        ours = settings_dict.get("PREPARED_OPTIONS_ADDED", ())
        settings_dict["OPTIONS"] = {k: v for k, v in settings_dict["OPTIONS"].items() if k not in ours}
    try:
        yield
    finally:
        connections.close_all()
        settings_dict.clear()
        settings_dict.update(saved)


def server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def run_together(count: int, work) -> list:
    """work(i) in `count` threads released at once, each on (and closing) its own connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - the test looks at what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_orders_placed_at_once_on_eight_connections_share_two_server_connections(pgbouncer):
    product = ProductFactory(stock=20, low_stock_threshold=0)
    buyers = CustomerFactory.create_batch(8)
    dbname = connection.settings_dict["NAME"]
    before = pgbouncer.stats(dbname).get("total_xact_count", 0)
    with through(pgbouncer):
        # when eight customers, each on a connection of their own, buy 3 units at the same moment
        def buy(i):
            order, _ = order_place(customer=buyers[i], email=buyers[i].email, shipping_address=dict(ADDRESS),
                                   lines=[{"sku": product.sku, "quantity": 3}], actor=buyers[i])
            return order

        results = run_together(8, buy)
        held = pgbouncer.server_connections(dbname)
        transactions = pgbouncer.stats(dbname)["total_xact_count"] - before
    # then six are placed and two are told it is out of stock: never more than there is, and the ledger agrees
    assert [type(r).__name__ for r in results].count("Order") == 6, results
    assert all(isinstance(r, Order | OutOfStock) for r in results), results
    level = StockLevel.objects.get(product=product)
    assert (level.on_hand, level.allocated) == (20, 18)
    # and all of it ran through PgBouncer, on no more than its two server connections
    assert held <= POOL_SIZE
    assert transactions >= 8


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_export_and_an_iterator_read_in_pages_through_the_pooler(pgbouncer, admin_user, monkeypatch):
    monkeypatch.setattr("orders.exports.CHUNK", 2)
    product = ProductFactory(stock=50)
    customer = CustomerFactory()
    orders = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(7)]
    with through(pgbouncer):
        done = export_job_run(job_id=ExportJob.objects.create(params={}, created_by=admin_user).pk)
        # .iterator() without a server-side cursor: a client-side result, handed out in chunks
        numbers = [o.number for o in Order.objects.order_by("pk").iterator(chunk_size=2)]
    rows = list(csv.reader(io.StringIO(done.file.read().decode())))[1:]
    assert (done.status, done.done_rows) == ("done", 7)
    assert sorted(r[0] for r in rows) == sorted(o.number for o in orders)
    assert numbers == [o.number for o in orders]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_without_the_pooler_settings_a_server_side_cursor_gets_lost(pgbouncer):
    """Why DISABLE_SERVER_SIDE_CURSORS: a cursor declared outside a transaction lives on one server connection,
    and the pooler may hand the next FETCH to another."""
    CustomerFactory.create_batch(3)
    dbname = connection.settings_dict["NAME"]
    with through(pgbouncer, pooler=""):  # behind PgBouncer, but with Django's defaults
        users = get_user_model().objects.order_by("pk").iterator(chunk_size=1)
        next(users)  # DECLARE ... WITH HOLD and the first FETCH, on the one server connection opened so far
        with psycopg.connect(pgbouncer.url(dbname)) as other:
            other.execute("SELECT 1")  # another client's open transaction holds that server connection now
            # then the next FETCH runs on a second server connection, where no such cursor exists (and so does
            # the CLOSE after it, whose psycopg error is the one that reaches us)
            with pytest.raises((DatabaseError, psycopg.Error), match="does not exist"):
                next(users)
            other.rollback()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_order_replayed_with_its_idempotency_key_through_the_pooler_is_one_order(pgbouncer):
    customer = CustomerFactory()
    product = ProductFactory(stock=5)
    api = APIClient()
    api.force_authenticate(customer)
    key = str(uuid.uuid4())
    with through(pgbouncer):
        first = api.post("/api/orders/", order_payload((product, 1)), format="json", HTTP_IDEMPOTENCY_KEY=key)
        again = api.post("/api/orders/", order_payload((product, 1)), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert (first.status_code, again.status_code) == (201, 201), first.content
    assert first.json()["number"] == again.json()["number"]
    assert Order.objects.count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_health_check_passes_through_the_pooler(pgbouncer, redis_url):
    with through(pgbouncer):
        response = Client().get("/health/", HTTP_ACCEPT="application/json")
        pooled_pid = server_pid()
    assert response.status_code == 200, response.content
    assert pooled_pid != server_pid()  # it ran on one of PgBouncer's server connections, not a direct one
