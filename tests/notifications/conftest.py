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
    own_keys = [BROKER_KEY_PREFIX + key for key in ("celery", "unacked", "unacked_index", "unacked_mutex")]
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


class TcpProxy:
    """A TCP forwarder to Redis that a test can take down (listener and open connections) and bring back."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        import socket

        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener = None
        self.sockets: list = []
        self.lock = threading.Lock()

    def start(self):
        import socket

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self):
        import socket

        with self.lock:
            listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener):
        import socket

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                # stopped while this connection was being set up (a loaded machine runs this thread late): it
                # must not carry traffic through the outage
                if self.listener is not listener:
                    client.close()
                    upstream.close()
                    continue
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, destination):
        import socket

        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown first: the other direction's thread is blocked in recv() on `destination`, and close()
            # alone would keep the connection open (no FIN) until that recv returned
            with contextlib.suppress(OSError):
                destination.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                destination.close()
