"""Drill: PostgreSQL out of reach under load, through a link the test cuts (the machine's PostgreSQL stays up).

A real server process (gunicorn, persistent database connections as in production) serves customers placing
orders; the link to PostgreSQL is severed and then drops every packet (a black hole) for a few seconds.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from orders.models import Order
from tests.factories import ADDRESS, CustomerFactory, ProductFactory
from tests.notifications.conftest import wait_for

from .conftest import (
    ROOT,
    CuttableLink,
    child_env,
    free_port,
    port_answers,
    stop_process_group,
    wait_for_other_sessions_to_end,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server_behind_a_link(postgres, tmp_path):
    link = CuttableLink(int(connection.settings_dict["PORT"] or 5432),
                        connection.settings_dict["HOST"] or "127.0.0.1").start()
    port = free_port()
    env = child_env(REDIS_URL="", EMAIL_URL="dummymail://", CONN_MAX_AGE="60", DATABASE_CONNECT_TIMEOUT="3")
    env["DATABASE_URL"] = env["DATABASE_URL"].replace(f":{connection.settings_dict['PORT'] or 5432}/",
                                                      f":{link.port}/")
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "8", "--timeout", "60"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for(lambda: port_answers(port) or server.poll() is not None, timeout=30)
        assert server.poll() is None, log.read_text()[-3000:]
        yield link, f"http://127.0.0.1:{port}", server
    finally:
        stop_process_group(server)
        link.close()
        wait_for_other_sessions_to_end()


class Customers:
    """Threads placing orders as fast as the server answers; every answer is recorded."""

    def __init__(self, base: str, token: str, sku: str, threads: int = 4):
        self.base, self.sku, self.threads = base, sku, threads
        self.headers = {"Authorization": f"Token {token}"}
        self.results: list[dict] = []
        self.lock = threading.Lock()
        self.running = True

    def place(self, key: str) -> dict:
        started = time.monotonic()
        body = {"shipping_address": dict(ADDRESS), "lines": [{"sku": self.sku, "quantity": 1}]}
        try:
            response = requests.post(f"{self.base}/api/orders/", json=body, timeout=30,
                                     headers={**self.headers, "Idempotency-Key": key})
            status, headers = response.status_code, response.headers
            payload = response.json() if response.headers.get("Content-Type", "").startswith("application/json") \
                else {"raw": response.text[:200]}
        except requests.RequestException as exc:
            status, headers, payload = None, {}, {"error": str(exc)}
        result = {"key": key, "started": started, "seconds": time.monotonic() - started, "status": status,
                  "retry_after": headers.get("Retry-After"), "body": payload}
        with self.lock:
            self.results.append(result)
        return result

    def _loop(self):
        while self.running:
            self.place(str(uuid.uuid4()))

    def __enter__(self):
        self.workers = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.threads)]
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        for worker in self.workers:
            worker.join(timeout=60)

    def count(self, status, *, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for r in self.results if r["status"] == status and r["started"] >= since)


def test_postgresql_out_of_reach_answers_503_quickly_and_recovers_without_a_restart(server_behind_a_link):
    link, base, server = server_behind_a_link
    customer = CustomerFactory()
    token = Token.objects.create(user=customer).key
    product = ProductFactory(stock=10_000)
    with Customers(base, token, product.sku) as customers:
        # given customers placing orders
        wait_for(lambda: customers.count(201) >= 20, timeout=60)
        # when the link to PostgreSQL is severed and then swallows every packet
        cut_at = time.monotonic()
        link.cut(blackhole=True)
        wait_for(lambda: customers.count(503, since=cut_at + 0.5) >= 8, timeout=60)
        # and comes back
        restored_at = time.monotonic()
        link.restore()
        # then the same server process places orders again
        wait_for(lambda: customers.count(201, since=restored_at) >= 20, timeout=60)
        recovered_in = min(r["started"] + r["seconds"] for r in customers.results
                           if r["status"] == 201 and r["started"] >= restored_at) - restored_at
    assert server.poll() is None
    results = customers.results
    # every answer was an order or a 503 that says when to retry, never a 500 and never a hang
    assert {r["status"] for r in results} <= {201, 503}, [r for r in results if r["status"] not in (201, 503)][:3]
    unavailable = [r for r in results if r["status"] == 503]
    for r in unavailable:
        assert r["retry_after"] == "5"
        assert r["body"]["code"] == "database_unavailable"
        assert set(r["body"]) == {"code", "message", "extra"}
    slowest_503 = max(r["seconds"] for r in unavailable)
    assert slowest_503 < 5
    # the clients retry what failed with the same Idempotency-Key: each gets its order, none gets two
    retried = Customers(base, token, product.sku)
    for r in unavailable:
        assert retried.place(r["key"])["status"] == 201
    keys = {r["key"] for r in results}
    orders = Order.objects.filter(customer=customer).prefetch_related("lines", "allocations", "events")
    assert orders.count() == len(keys)
    # and no order is half-written: each has its line, its stock reserved and its timeline entry
    for order in orders:
        assert [line.quantity for line in order.lines.all()] == [1]
        assert sum(a.quantity for a in order.allocations.all()) == 1
        assert order.events.exists()
    level = product.stock_levels.get()
    assert level.allocated == len(keys)
    print(f"\nDRILL PostgreSQL cut under load: {len(unavailable)} answers were 503 (slowest {slowest_503:.2f} s); "
          f"first order placed {recovered_in:.2f} s after the link came back; {len(keys)} orders, none partial")
