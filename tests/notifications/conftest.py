"""Fixtures for notification tests: a real Celery worker on real Redis, a broker that is down, a webhook receiver."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from config.celery import app

CLOSED_BROKER = "redis://127.0.0.1:6390/0"  # nothing listens there: the broker is "down"
BROKER_KEY_PREFIX = app.conf.broker_transport_options.get("global_keyprefix", "")


def use_broker(url: str, *, eager: bool = False) -> None:
    """Point the Celery app at another broker and drop pooled connections to the old one."""
    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    with contextlib.suppress(AttributeError, KeyError):
        app.__dict__["amqp"]._producer_pool = None
    from notifications.services import publish_pools_reset

    publish_pools_reset()  # no pooled connection outlives the broker it was made for


@pytest.fixture
def broker(redis_url, request):
    """Real Redis as the broker, with its queue emptied first; eager mode and memory:// restored afterwards.

    A real worker runs beside the test and writes from its own threads: that takes PostgreSQL too.
    """
    request.getfixturevalue("postgres")
    import redis

    previous = (app.conf.broker_url, app.conf.task_always_eager)
    client = redis.Redis.from_url(redis_url)
    # only this checkout's keys (settings.test gives them a prefix of its own): another checkout may be testing too
    from django.conf import settings

    own_keys = [BROKER_KEY_PREFIX + key
                for key in (*settings.WAYBILL_CELERY_QUEUES, "unacked", "unacked_index", "unacked_mutex")]
    client.delete(*own_keys)
    use_broker(redis_url)
    yield redis_url
    use_broker(previous[0], eager=previous[1])
    client.delete(*own_keys)


@contextlib.contextmanager
def running_worker(django_db_blocker, concurrency: int = 2):
    from celery.contrib.testing.worker import start_worker

    with django_db_blocker.unblock(), start_worker(app, pool="threads", concurrency=concurrency,
                                                   perform_ping_check=False, loglevel="WARNING",
                                                   shutdown_timeout=10) as worker:
        yield worker


@pytest.fixture
def worker(broker, django_db_blocker):
    with running_worker(django_db_blocker) as w:
        yield w


class TaskRuns:
    """Counts the tasks the in-process worker has finished, by name: a test waits for the work it published to
    be done instead of sleeping and hoping it was."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, sender=None, **kwargs):
        with self.lock:
            self.counts[sender.name] = self.counts.get(sender.name, 0) + 1

    def of(self, task) -> int:
        with self.lock:
            return self.counts.get(task.name, 0)


@pytest.fixture
def task_runs():
    from celery.signals import task_postrun

    runs = TaskRuns()
    task_postrun.connect(runs, weak=False)
    yield runs
    task_postrun.disconnect(runs)


def wait_for(predicate, *, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


class WebhookReceiver:
    """A local HTTP server that records POSTs and answers with `status` (changeable during a test)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "json": json.loads(body)})
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/waybill"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    with WebhookReceiver() as receiver:
        yield receiver
