"""Read replicas against a real streaming replica (tests/replica.py): a private primary and hot standby, and
Waybill served by gunicorn against them. The standby's replay is paused to make data that only the primary has:
whoever sees it read from the primary, whoever does not read from the replica.

Two servers share the pair: `app` allows a replica to be 300 s behind (so a paused replica stays in use) and
trusts a replica's measured position for 30 s (so a replica that stops is met in the middle of a request);
`strict` allows 1 s and measures every 0.1 s. The pair and the servers are started once for the module and
stopped after it (also when a test fails), not kept for the rest of the run.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass

import pytest
import requests
from django.core.exceptions import MiddlewareNotUsed

import tests.conftest
from config.replicas import (
    ReplicaMiddleware,
    lsn_to_int,
    primary_reads,
    replica_aliases,
    replica_eligible,
    replica_reads,
)
from tests.conftest import service_missing
from tests.replica import PG_BIN, AppServer, StreamingPair, missing_tools, prepare_database, wait_for
from tests.test_deploy import production_says

pytestmark = [pytest.mark.services]


def require_pg_tools() -> None:
    missing = missing_tools()
    if missing:
        service_missing(f"the PostgreSQL server binaries ({', '.join(missing)} in {PG_BIN}; WAYBILL_PG_BIN)")


@pytest.fixture(scope="module")
def pair():
    require_pg_tools()
    pair = StreamingPair().start()
    try:
        yield pair
    finally:
        pair.stop()


@dataclass
class Site:
    pair: StreamingPair
    facts: dict
    app: AppServer
    strict: AppServer


@pytest.fixture(scope="module")
def site(pair):
    facts = prepare_database(pair)
    quick = {"WAYBILL_REPLICA_RETRY_SECONDS": "0.2"}
    servers = [AppServer(pair, name="app", WAYBILL_REPLICA_MAX_LAG_SECONDS="300",
                         WAYBILL_REPLICA_CHECK_SECONDS="30", **quick),
               AppServer(pair, name="strict", WAYBILL_REPLICA_MAX_LAG_SECONDS="1",
                         WAYBILL_REPLICA_CHECK_SECONDS="0.1", **quick)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield Site(pair, facts, *servers)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def live(site):
    """Each test starts with the standby running, replaying, and level with the primary."""
    if str(site.pair.standby_dir) not in site.pair.running:
        site.pair.start_standby()
    site.pair.resume_replay()
    site.pair.caught_up()
    yield site
    if str(site.pair.standby_dir) not in site.pair.running:
        site.pair.start_standby()
    site.pair.resume_replay()


# --- clients -------------------------------------------------------------------------------------------------------

def portal_login(server: AppServer, facts: dict) -> requests.Session:
    browser = requests.Session()
    browser.get(f"{server.url}/accounts/login/", timeout=10).raise_for_status()
    response = browser.post(f"{server.url}/accounts/login/", timeout=10, allow_redirects=False, data={
        **facts["customer"], "csrfmiddlewaretoken": browser.cookies["csrftoken"]})
    assert response.status_code == 302, response.text
    return browser


def order_status_on_page(browser: requests.Session, server: AppServer, number: str) -> str:
    response = browser.get(f"{server.url}/orders/{number}/", timeout=10)
    assert response.status_code == 200, response.text
    return re.search(r'id="order-status">([^<]+)<', response.text).group(1)


def tracking_status(server: AppServer, tracking_number: str) -> str:
    response = requests.get(f"{server.url}/track/{tracking_number}/", timeout=10)  # anonymous, no cookies
    assert response.status_code == 200, response.text
    return re.search(r'data-status="([^"]+)"', response.text).group(1)


class Api:
    """An API client with a token and no cookie jar, as most integrations are."""

    def __init__(self, server: AppServer, token: str):
        self.server, self.headers = server, {"Authorization": f"Token {token}"}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.server.url}{path}", headers=self.headers, timeout=10)

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return requests.post(f"{self.server.url}{path}", json=body or {}, timeout=10,
                             headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())})

    def order_numbers(self) -> list[str]:
        response = self.get("/api/orders/?page_size=100")
        assert response.status_code == 200, response.text
        return [order["number"] for order in response.json()["results"]]


def place_order(api: Api, sku: str) -> str:
    response = api.post("/api/orders/", {
        "email": "ada@example.com", "lines": [{"sku": sku, "quantity": 1}],
        "shipping_address": {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
                             "postal_code": "N1 9GU", "country": "GB"}})
    assert response.status_code == 201, response.text
    return response.json()["number"]


def health(server: AppServer) -> tuple[int, dict]:
    response = requests.get(f"{server.url}/health/?format=json", timeout=30)
    return response.status_code, {name.split("(")[0]: value for name, value in response.json().items()}


# --- the tests -------------------------------------------------------------------------------------------------------

def test_a_portal_page_reads_the_replica_and_the_customer_who_wrote_reads_the_primary(live):
    app, number = live.app, live.facts["order_to_cancel"]
    writer = portal_login(app, live.facts)
    elsewhere = portal_login(app, live.facts)  # the same customer in another browser
    assert order_status_on_page(elsewhere, app, number) == "Placed"
    live.pair.caught_up()
    live.pair.pause_replay()

    # when the customer cancels the order in one browser (a POST: the primary)
    response = writer.post(f"{app.url}/orders/{number}/cancel/", timeout=10, allow_redirects=False, data={
        "reason": "Bought it twice", "csrfmiddlewaretoken": writer.cookies["csrftoken"]})
    assert response.status_code == 302, response.text

    # then that browser sees its cancellation at once: its reads wait for a replica that has it, so the primary
    assert order_status_on_page(writer, app, number) == "Cancelled"
    # while the other browser, which wrote nothing, is served by the replica, which has not replayed it
    assert order_status_on_page(elsewhere, app, number) == "Placed"

    # and once the replica replays, it shows the cancellation too
    live.pair.resume_replay()
    wait_for(lambda: order_status_on_page(elsewhere, app, number) == "Cancelled", what="the replica catching up")


def test_tracking_and_list_apis_read_the_replica_and_writes_and_services_the_primary(live):
    app, facts = live.app, live.facts
    writer, reader = Api(app, facts["writer_token"]), Api(app, facts["reader_token"])
    shipment, tracking_number = facts["shipment"]["pk"], facts["shipment"]["tracking_number"]
    assert tracking_status(app, tracking_number) == "in_transit"
    live.pair.pause_replay()

    # when warehouse staff send the parcel out for delivery and place an order (the primary)
    response = writer.post(f"/api/shipments/{shipment}/transitions/send_out/")
    assert response.status_code == 200, response.text
    number = place_order(writer, facts["sku"])

    # then the public tracking page, read from the replica, still has the parcel in transit
    assert tracking_status(app, tracking_number) == "in_transit"
    # the staff member who wrote reads their writes (their token is remembered with the primary's position)
    assert writer.get(f"/api/shipments/{shipment}/").json()["status"] == "out_for_delivery"
    assert writer.get(f"/api/orders/{number}/").status_code == 200
    assert number in writer.order_numbers()
    # another client's list and detail reads come from the replica, which has not replayed the order
    assert number not in reader.order_numbers()
    assert reader.get(f"/api/orders/{number}/").status_code == 404

    # when that client confirms the order that only the primary has: the service reads and locks it there
    response = reader.post(f"/api/orders/{number}/transitions/confirm/")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed"
    # and from then on that client reads its own write
    assert reader.get(f"/api/orders/{number}/").json()["status"] == "confirmed"

    live.pair.resume_replay()
    wait_for(lambda: tracking_status(app, tracking_number) == "out_for_delivery", what="the replica catching up")
    wait_for(lambda: number in Api(app, facts["reader_token"]).order_numbers(), what="the order replicated")


def test_a_stopped_replica_sends_every_read_to_the_primary_without_an_error(live):
    app, strict, facts = live.app, live.strict, live.facts
    writer, reader = Api(app, facts["writer_token"]), Api(app, facts["reader_token"])
    customer = portal_login(app, facts)
    assert health(app)[0] == 200
    live.pair.pause_replay()
    number = place_order(writer, facts["sku"])  # only the primary has it: whoever sees it read the primary

    # when the standby stops
    live.pair.stop_standby()

    # then reads the app believed it could send to the replica fail there and are served by the primary
    started = time.monotonic()
    assert number in reader.order_numbers()
    print(f"REPLICA stopped: the first read met it and was served by the primary in "
          f"{time.monotonic() - started:.3f} s")
    assert reader.get(f"/api/orders/{number}/").status_code == 200
    assert tracking_status(app, facts["shipment"]["tracking_number"]) in {"in_transit", "out_for_delivery"}
    assert order_status_on_page(customer, app, facts["order_to_cancel"])
    # as does the server that measures the replica before it trusts it
    assert number in Api(strict, facts["reader_token"]).order_numbers()
    # /health/ warns, and stays 200: the site works
    status, checks = health(app)
    assert status == 200, checks
    assert "replica1 is unreachable" in checks["ReplicaLag"] and checks["Database"] == "OK"
    # the app met the stopped replica mid-request (it had measured it a moment before); strict when measuring
    assert "replica replica1 failed (OperationalError): reads go to the primary" in app.log()
    assert "replica replica1 is unreachable (OperationalError): reads go to the primary" in strict.log()

    # when it is back, reads go to it again: the paused replay was forgotten by the restart, it catches up
    live.pair.start_standby()
    live.pair.caught_up()
    wait_for(lambda: health(app)[1]["ReplicaLag"] == "OK", what="the replica healthy again")
    assert "replica replica1 serves reads again" in app.log()


def test_a_replica_behind_the_limit_sends_reads_to_the_primary(live):
    facts = live.facts
    status, checks = health(live.strict)
    assert status == 200 and checks["ReplicaLag"] == "OK", checks
    live.pair.pause_replay()

    # when an order is placed and the replica does not replay it
    number = place_order(Api(live.app, facts["writer_token"]), facts["sku"])

    # then the strict server (1 s allowed) reads from the primary once the replica is more than 1 s behind
    strict_reader = Api(live.strict, facts["reader_token"])
    written = time.monotonic()
    wait_for(lambda: strict_reader.get(f"/api/orders/{number}/").status_code == 200, timeout=20,
             what="the strict server falling back to the primary")
    print(f"REPLICA behind: the strict server read the order from the primary {time.monotonic() - written:.2f} s "
          "after it was placed")
    # while the lenient server (300 s allowed) still reads the same replica, which does not have the order
    assert Api(live.app, facts["reader_token"]).get(f"/api/orders/{number}/").status_code == 404
    # the strict server's /health/ warns about the lag and stays 200; its log says where reads went
    status, checks = health(live.strict)
    assert status == 200, checks
    assert re.search(r"replica1 is \d+\.\d s behind the primary \(limit 1 s\)", checks["ReplicaLag"]), checks
    assert "behind the primary (limit 1 s): reads go to the primary" in live.strict.log()


# --- without a running replica -----------------------------------------------------------------------------------

def test_each_replica_url_becomes_an_alias_with_the_primarys_options():
    # given production settings with two replicas
    said = production_says(
        "import json; from django.conf import settings\n"
        "print(json.dumps({'routers': settings.DATABASE_ROUTERS, 'databases': {alias: [db['HOST'], db['PORT'], "
        "db['OPTIONS'], db['CONN_MAX_AGE'], db['ATOMIC_REQUESTS'], db['TEST'].get('MIRROR')] "
        "for alias, db in settings.DATABASES.items()}}))",
        DATABASE_REPLICA_URL="postgres://waybill@r1.example.com:5432/waybill, postgres://waybill@r2.example.com/waybill",
        DATABASE_CONNECT_TIMEOUT="4")
    # then each is an alias of its own with the primary's options (connect timeout, prepared statements) and
    # connection age, mirroring the primary under the test runner, and the router is installed
    options = {"connect_timeout": 4, "server_side_binding": True, "prepare_threshold": 5,
               "options": "-c plan_cache_mode=force_custom_plan"}
    assert json.loads(said) == {
        "routers": ["config.replicas.ReplicaRouter"],
        "databases": {"default": ["db.example.com", 5432, options, 60, False, None],
                      "replica1": ["r1.example.com", 5432, options, 60, False, "default"],
                      "replica2": ["r2.example.com", "", options, 60, False, "default"]}}


def test_without_a_replica_nothing_routes_and_nothing_is_added():
    # no replica configured (the test settings): no router, and the middleware takes itself out of the chain,
    # so no request pays for a check (the query-count tests of every list page hold as they were)
    from django.conf import settings

    assert settings.DATABASE_ROUTERS == [] and replica_aliases() == []
    with pytest.raises(MiddlewareNotUsed):
        ReplicaMiddleware(lambda request: None)


def test_which_requests_may_read_from_a_replica(rf):
    from django.conf import settings
    from django.urls import resolve
    from django.views import View
    from rest_framework import viewsets
    from rest_framework.views import APIView

    def eligible(method: str, path: str, view=None) -> bool:
        request = getattr(rf, method.lower())(path)
        request.resolver_match = resolve(path) if view is None else None
        return replica_eligible(request, view or request.resolver_match.func,
                                view_names=frozenset(settings.WAYBILL_REPLICA_READ_VIEWS),
                                paths=tuple(settings.WAYBILL_REPLICA_READ_PATHS))

    # the lists: portal pages, tracking, list and detail APIs, their GETs and HEADs only
    assert eligible("GET", "/orders/") and eligible("HEAD", "/orders/WB-AAAA-AAAA/")
    assert eligible("GET", "/track/WB123/") and eligible("GET", "/api/orders/") and eligible("GET", "/api/stock/")
    assert not eligible("POST", "/api/orders/") and not eligible("POST", "/orders/WB-AAAA-AAAA/cancel/")
    assert not eligible("GET", "/account/verify/MQ/abc-123/")  # this GET activates an account
    assert not eligible("GET", "/admin/") and not eligible("GET", "/support/")
    assert not eligible("GET", "/api/orders/WB-AAAA-AAAA/transitions/confirm/")
    # a page under /analytics/, named or not yet
    assert eligible("GET", "/analytics/", view=lambda request: None)
    # the views' own word wins: functions, classes (Django's and DRF's as_view) and viewsets
    assert not eligible("GET", "/analytics/", view=primary_reads(lambda request: None))

    @replica_reads
    class Report(View):
        pass

    @replica_reads
    class ReportApi(APIView):
        pass

    @replica_reads
    class ReportViewSet(viewsets.ViewSet):
        pass

    for view in (Report.as_view(), ReportApi.as_view(), ReportViewSet.as_view({"get": "list"})):
        assert eligible("GET", "/anywhere/", view=view) and not eligible("POST", "/anywhere/", view=view)


def test_every_view_named_for_replica_reads_exists():
    # a renamed URL would silently send its page back to the primary
    from django.conf import settings
    from django.urls import URLResolver, get_resolver

    def names(resolver, namespace=""):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from names(pattern, inner)
            elif pattern.name:
                yield f"{namespace}{pattern.name}"

    known = set(names(get_resolver()))
    namespaces = {name.rsplit(":", 1)[0] for name in known if ":" in name}
    for name in settings.WAYBILL_REPLICA_READ_VIEWS:
        assert (name[:-2] in namespaces) if name.endswith(":*") else (name in known), name


def test_missing_postgresql_binaries_fail_the_run_when_services_are_required(monkeypatch, tmp_path):
    monkeypatch.setattr("tests.replica.PG_BIN", tmp_path)
    monkeypatch.setattr(tests.conftest, "REQUIRE_SERVICES", True)
    with pytest.raises(pytest.fail.Exception, match="initdb"):
        require_pg_tools()


def test_wal_positions_compare_as_numbers():
    assert lsn_to_int("0/16B3748") < lsn_to_int("0/16B3750") < lsn_to_int("1/0") < lsn_to_int("16/B374D848")
    assert lsn_to_int("") == 0
