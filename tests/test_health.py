"""/health/ tells an operator (or a load balancer) what is wrong: PostgreSQL, the cache, Redis, the Celery broker,
unapplied migrations and an outbox that is not worked off. Redis is a private instance the test stops itself."""

import asyncio
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from config.health import CeleryBroker, MigrationsApplied
from notifications.health import OutboxBacklog
from notifications.models import OutboxMessage
from tests.conftest import service_missing

CHECKS = {"Database", "Cache", "Redis", "CeleryBroker", "MigrationsApplied", "OutboxBacklog"}


def health() -> tuple[int, dict]:
    response = Client().get("/health/", HTTP_ACCEPT="application/json")
    return response.status_code, {name.split("(")[0]: value for name, value in response.json().items()}


def result(check) -> str:
    outcome = asyncio.run(check.get_result())
    return "OK" if outcome.error is None else str(outcome.error)


@pytest.mark.django_db(transaction=True)
def test_all_healthy(redis_url):
    status, checks = health()
    assert status == 200, checks
    assert set(checks) == CHECKS and set(checks.values()) == {"OK"}
    assert Client().get("/health/live/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_an_outbox_that_is_not_worked_off_is_unhealthy(settings, redis_url):
    settings.WAYBILL_HEALTH_OUTBOX_MAX_AGE_SECONDS = 600
    # given an unprocessed message written 5 minutes ago: the relay is a little behind, which is fine
    stuck = OutboxMessage.objects.create(event="order.placed", idempotency_key="health-stuck")
    OutboxMessage.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert health()[0] == 200

    # when it is 20 minutes old
    OutboxMessage.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=20))
    status, checks = health()

    # then the health check fails on that, and only that
    assert status == 500
    assert "Oldest unprocessed outbox message is 1200 s old (limit 600 s)" in checks["OutboxBacklog"]
    assert {name for name, value in checks.items() if value != "OK"} == {"OutboxBacklog"}

    # and a processed one is no backlog
    OutboxMessage.objects.filter(pk=stuck.pk).update(processed_at=timezone.now())
    assert result(OutboxBacklog()) == "OK"


@pytest.mark.django_db(transaction=True)
def test_an_unapplied_migration_is_unhealthy(redis_url):
    recorder = MigrationRecorder.Migration.objects
    last = recorder.filter(app="notifications").order_by("-id").first()
    recorder.filter(pk=last.pk).delete()  # as if this deploy had skipped `migrate`
    try:
        status, checks = health()
        assert status == 500
        assert f"unapplied migration(s): notifications.{last.name}" in checks["MigrationsApplied"]
    finally:
        recorder.create(app=last.app, name=last.name, applied=last.applied)
    assert result(MigrationsApplied()) == "OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis():
    """A Redis of this test's own, which it may stop."""
    import redis

    port = free_port()
    try:
        process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        service_missing("redis-server")
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield url, process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_redis_and_the_broker_going_away_are_unhealthy(settings, private_redis):
    url, process = private_redis
    settings.REDIS_URL = url
    broker = CeleryBroker(url=url)
    assert health()[1]["Redis"] == "OK" and result(broker) == "OK"

    # when Redis stops
    process.terminate()
    process.wait(timeout=10)

    # then /health/ says so within the checks' timeouts
    started = time.monotonic()
    status, checks = health()
    assert status == 500 and "Unable to connect to Redis" in checks["Redis"]
    assert "Celery broker unreachable" in result(broker)
    assert time.monotonic() - started < 10
