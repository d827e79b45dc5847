"""Commit-to-sent latency of customer emails, through a real Celery worker on real Redis.

    python -m bench.notification_latency [n]      (DATABASE_URL: PostgreSQL; REDIS_URL: the broker)

`run(n)` places n orders one after another, each in its own transaction, with a worker (thread pool) running
in this process. For each order it takes the time the transaction committed and the time its confirmation email
was handed to the email backend (Notification.sent_at), and returns the percentiles in milliseconds.
Standalone, it works in a throwaway database (<DATABASE name>_notify_bench), created and dropped here; called
from a process that has already set Django up (`make bench`), it uses that process's (disposable) database.
Targets: p95 under 250 ms, p99 under 1 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import statistics
import sys
import threading
import time

TARGETS_MS = {"p95": 250.0, "p99": 1000.0}
WARMUP = 10


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _setup_django() -> bool:
    """Set Django up if nobody has. True when this module did it (and so owns the database it uses)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django
    from django.apps import apps

    if apps.ready:
        return False
    django.setup()
    return True


def _place_orders(n: int, commit_times: dict) -> list:
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from inventory.models import Product, Warehouse
    from inventory.services import stock_receive
    from orders.services import order_place

    tag = secrets.token_hex(4).upper()
    warehouse = Warehouse.objects.create(code=f"NB{tag}", name="Notification bench", priority=999)
    product = Product.objects.create(sku=f"NOTIFY-BENCH-{tag}", name="Bench item", price=Decimal("9.90"),
                                     low_stock_threshold=0)
    stock_receive(product=product, warehouse=warehouse, quantity=10 * n + 100, reason="bench")
    customer = get_user_model().objects.create_user(f"notify-bench-{tag}", f"bench-{tag}@example.com", "x")
    address = {"name": "Bench", "line1": "1 Road", "city": "Paris", "postal_code": "75001", "country": "FR"}
    numbers = []
    for _ in range(n):
        stamp: dict = {}
        with transaction.atomic():
            # Registered before the order's own hooks, so it runs first, right after COMMIT.
            transaction.on_commit(lambda stamp=stamp: stamp.setdefault("t", time.time()))
            order, _ = order_place(customer=customer, email=customer.email, shipping_address=address,
                                   lines=[{"sku": product.sku, "quantity": 1}])
        commit_times[order.number] = stamp
        numbers.append(order.number)
        time.sleep(0.005)
    return numbers


@contextlib.contextmanager
def _relay_running(on: bool):
    """With WAYBILL_OUTBOX_RELAY (production's default), the relay hands the rows over, as `manage.py outbox_relay`
    does: measured is the path production takes."""
    if not on:
        yield
        return
    from django.db import connection

    from notifications.relay import relay_until

    stop = threading.Event()

    def relay():
        try:
            relay_until(stop)
        finally:
            connection.close()

    thread = threading.Thread(target=relay, name="outbox-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def run(n: int = 200) -> dict:
    """Measure commit-to-sent latency for n orders. Returns {"p50", "p95", "p99", "max", "mean", "n"} in ms."""
    standalone = _setup_django()
    import redis
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings
    from django.db import connection, connections

    from config.celery import app
    from notifications.models import Notification

    if connection.vendor != "postgresql":
        raise RuntimeError("the notification latency bench needs PostgreSQL (set DATABASE_URL)")
    broker = settings.REDIS_URL
    redis.Redis.from_url(broker, socket_connect_timeout=1).ping()

    old_name = None
    if standalone:
        test_settings = settings.DATABASES["default"].setdefault("TEST", {})
        test_settings["NAME"] = f"{settings.DATABASES['default']['NAME']}_notify_bench"
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = broker, False
    app._pool = None
    # every queue: orders placed by earlier scenarios left their tasks there, and a backlog would be measured
    redis.Redis.from_url(broker).delete(*settings.WAYBILL_CELERY_QUEUES)
    commit_times: dict[str, dict] = {}
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING",
                          shutdown_timeout=10), _relay_running(settings.WAYBILL_OUTBOX_RELAY):
            numbers = _place_orders(n + WARMUP, commit_times)
            numbers_set = set(numbers)
            deadline = time.monotonic() + 60
            sent: dict[str, float] = {}
            while time.monotonic() < deadline and len(sent) < len(numbers):
                rows = Notification.objects.filter(
                    event="order.placed", status="sent", outbox__subject_label__in=numbers_set,
                ).values_list("outbox__subject_label", "sent_at")
                sent = {number: at.timestamp() for number, at in rows}
                time.sleep(0.1)
        latencies = [
            (sent[number] - commit_times[number]["t"]) * 1000 for number in numbers[WARMUP:] if number in sent
        ]
        if len(latencies) < n:
            raise RuntimeError(f"only {len(latencies)} of {n} confirmations were sent within 60 s")
        return {
            "n": n,
            "path": "relay" if settings.WAYBILL_OUTBOX_RELAY else "publish after commit",
            "p50": round(_percentile(latencies, 50), 1),
            "p95": round(_percentile(latencies, 95), 1),
            "p99": round(_percentile(latencies, 99), 1),
            "max": round(max(latencies), 1),
            "mean": round(statistics.fmean(latencies), 1),
        }
    finally:
        app.conf.broker_url, app.conf.task_always_eager = previous
        app._pool = None
        connections.close_all()
        if old_name is not None:
            connection.creation.destroy_test_db(old_name, verbosity=0)


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 200
    result = run(n)
    verdict = all(result[k] < limit for k, limit in TARGETS_MS.items())
    print(json.dumps({"notification_latency_ms": result, "targets_ms": TARGETS_MS, "ok": verdict}))
    print(f"notifications commit→sent (n={result['n']}): p50 {result['p50']} ms, p95 {result['p95']} ms, "
          f"p99 {result['p99']} ms, max {result['max']} ms — {'OK' if verdict else 'MISSED TARGET'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
