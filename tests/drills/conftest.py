"""Fault drills: real services the tests start, cut and stop themselves, never the machine's shared ones.

    PrivateRedis     a redis-server of its own on a free port (appendonly, like a production broker)
    SmtpSink         a local SMTP server (aiosmtpd) that accepts, fails with 4xx/5xx, or holds the reply
    CuttableLink     a TCP forwarder that can refuse, or accept and never answer (a black hole)
    WorkerProcess    `celery -A config worker` in a child process of its own (SIGKILL-able, prefork pool)

Every wait is on a condition (tests.notifications.conftest.wait_for), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app
from tests.conftest import service_missing
from tests.notifications.conftest import use_broker, wait_for
from tests.tcplink import CuttableLink, free_port  # noqa: F401 - the drills take the link from here

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services]


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- Redis -----------------------------------------------------------------------------------------------
class PrivateRedis:
    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_answers(self.port), timeout=10)
        return self

    def stop(self) -> None:
        """Stop as an operator would (SIGTERM: Redis writes its append-only file and exits)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        service_missing("redis-server (to start a private Redis)")
    redis = PrivateRedis(tmp_path).start()
    yield redis
    redis.stop()


@pytest.fixture
def drill_broker(private_redis, postgres):
    """This process publishes to the private Redis (no key prefix: nobody else uses it); restored afterwards."""
    previous = (app.conf.broker_url, app.conf.task_always_eager, app.conf.broker_transport_options)
    app.conf.broker_transport_options = {k: v for k, v in previous[2].items() if k != "global_keyprefix"}
    use_broker(private_redis.url)
    yield private_redis
    app.conf.broker_transport_options = previous[2]
    use_broker(previous[0], eager=previous[1])


# --- SMTP ------------------------------------------------------------------------------------------------
class SmtpSink:
    """An SMTP server in this process. `mode` decides what it answers at the end of DATA:

        "accept"          250: the message is delivered (recorded in `delivered`)
        "tempfail"        451 (a 4xx: try again later); `fail_times` of them, then "accept"
        "permfail"        550 (a 5xx: never)
        "hold"            no answer until the client goes away, then nothing is delivered
        "accept-hold"     delivered first (it is in our queue), then no answer until the client goes away:
                          the client cannot know that the server took it
    """

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.mode = "accept"
        self.fail_times = 0
        self.delivered: list = []
        self.answers: list[str] = []
        self.holding = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.original_content or envelope.content, policy=email_policy.default)
        mode = self.mode
        if mode == "tempfail" and self.fail_times > 0:
            self.fail_times -= 1
            return self._answer("451 4.3.0 Mailbox temporarily unavailable, try again later")
        if mode == "permfail":
            return self._answer("550 5.1.1 No such user here")
        if mode in ("hold", "accept-hold"):
            if mode == "accept-hold":
                self._deliver(message)
            with self.lock:
                self.holding += 1
            try:  # aiosmtpd cancels this coroutine when the client hangs up
                while server.transport is not None and not server.transport.is_closing():
                    await asyncio.sleep(0.02)
            finally:
                with self.lock:
                    self.holding -= 1
            return self._answer("421 4.3.2 Client went away")
        self._deliver(message)
        return self._answer("250 2.0.0 OK")

    def _deliver(self, message) -> None:
        with self.lock:
            self.delivered.append(message)

    def _answer(self, answer: str) -> str:
        self.answers.append(answer)
        return answer

    def to(self, address: str) -> list:
        with self.lock:
            return [m for m in self.delivered if address in str(m["To"])]

    def message_ids(self, address: str) -> list[str]:
        return [str(m["Message-ID"]) for m in self.to(address)]


@pytest.fixture
def smtp_sink():
    pytest.importorskip("aiosmtpd")
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


# --- A link that can be cut ------------------------------------------------------------------------------
# --- A real worker ---------------------------------------------------------------------------------------
def database_url() -> str:
    """The test database (its name changes during a test run), for child processes."""
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def stop_process_group(process: subprocess.Popen, *, sig: int = signal.SIGTERM) -> None:
    """Stop a child started with start_new_session=True and every process of its group (pool workers too)."""
    def group_gone() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        process.poll()  # reap the leader
        return False

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        wait_for(group_gone, timeout=20)
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        wait_for(group_gone, timeout=10)
    process.wait(timeout=5)


def wait_for_other_sessions_to_end() -> None:
    """Child processes are gone, but PostgreSQL ends their sessions a moment later; the test database can only be
    flushed or dropped once it has."""
    def alone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            return cursor.fetchone()[0] == 0

    try:
        wait_for(alone, timeout=30)
    except AssertionError:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid, state, client_port, backend_start, xact_start, left(query, 200) "
                           "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            raise AssertionError(f"sessions left on the test database: {cursor.fetchall()}") from None


DRILL_SETTINGS = {
    "WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS": "6",  # send tasks: soft limit 3 s, hard limit 4.5 s
    "WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS": "1",
    "WAYBILL_NOTIFY_RETRY_BASE_SECONDS": "0.5",
    "WAYBILL_NOTIFY_RETRY_MAX_SECONDS": "2",
    "EMAIL_TIMEOUT": "2",
}


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "EMAIL_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.dev", "DATABASE_URL": database_url(),
                "DEBUG": "false", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **DRILL_SETTINGS, **extra})
    return env


class WorkerProcess:
    """`celery -A config worker` (prefork, as in production) in a session of its own, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 2, queues: str = ""):
        self.env, self.log, self.concurrency, self.queues = env, log, concurrency, queues
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.log.write_text("")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
             "--concurrency", str(self.concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--hostname", f"drill-{free_port()}@%h", *(["--queues", self.queues] if self.queues else [])],
            cwd=ROOT, env=self.env, stdout=self.log.open("a"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(lambda: " ready." in self.log.read_text() or not self.alive(), timeout=60)
        assert self.alive(), self.log.read_text()[-3000:]
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once: nothing runs after it."""
        stop_process_group(self.process, sig=signal.SIGKILL)

    def stop(self) -> None:
        stop_process_group(self.process)


@pytest.fixture
def start_worker(drill_broker, smtp_sink, tmp_path):
    """Start real workers on the private Redis that send through the SMTP sink; all stopped afterwards."""
    workers: list[WorkerProcess] = []

    def start(queues: str = "", **extra) -> WorkerProcess:
        """A worker consuming `queues` (comma-separated; all of them by default), with `extra` in its environment."""
        env = child_env(**{"REDIS_URL": drill_broker.url, "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}", **extra})
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log", queues=queues).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    wait_for_other_sessions_to_end()


@pytest.fixture
def drill_settings(settings):
    """This process (it runs the sweep, as beat would) uses the same short timeouts as the workers."""
    settings.WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS = float(DRILL_SETTINGS["WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS"])
    settings.WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS = float(DRILL_SETTINGS["WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS"])
    settings.WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS = 2
    return settings


def sweep_until(predicate, *, timeout: float = 60.0):
    """Run the outbox sweep (as beat does every WAYBILL_OUTBOX_SWEEP_SECONDS) until `predicate()` holds."""
    from notifications.services import outbox_sweep

    def swept():
        outbox_sweep(grace_seconds=0)
        return predicate()

    return wait_for(swept, timeout=timeout, interval=0.25)


@pytest.fixture
def stopwatch():
    class Stopwatch:
        def __init__(self):
            self.started = time.monotonic()

        def restart(self):
            self.started = time.monotonic()

        @property
        def seconds(self) -> float:
            return round(time.monotonic() - self.started, 2)

    return Stopwatch()
