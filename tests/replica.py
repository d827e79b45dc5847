"""A private PostgreSQL primary with a hot standby streaming from it, and Waybill served against the pair.

    StreamingPair   initdb + pg_ctl for the primary, pg_basebackup -R for the standby, on free ports in a temporary
                    directory, with the Debian PostgreSQL binaries (WAYBILL_PG_BIN, default
                    /usr/lib/postgresql/15/bin). The machine's own cluster is never touched. Run as root, the
                    servers run as the `postgres` user (PostgreSQL refuses to run as root).
    AppServer       gunicorn serving config.wsgi with DATABASE_URL at the primary and DATABASE_REPLICA_URL at the
                    standby, in a process of its own (these settings cannot change inside the test process).

Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("WAYBILL_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
DATABASE = "waybill"

# Small and quick: nothing here must survive a crash of the machine.
SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
max_connections = 40
shared_buffers = 32MB
fsync = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
wal_receiver_status_interval = 1s
autovacuum = off
log_min_messages = warning
"""


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def missing_tools() -> list[str]:
    return [tool for tool in PG_TOOLS if not (PG_BIN / tool).is_file()]


class StreamingPair:
    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="waybill-replicas-"))
        self.primary_dir = self.directory / "primary"
        self.standby_dir = self.directory / "standby"
        self.primary_port = free_port()
        self.standby_port = free_port()
        self._as_user: dict = {}
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            account = pwd.getpwnam("postgres")
            self._as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self.running: set[str] = set()

    # --- running the binaries ---------------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        result = subprocess.run([str(PG_BIN / tool), *args], capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, cwd=self.directory, **self._as_user)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stdout}{result.stderr}")

    def _pg_ctl_start(self, data: Path, port: int) -> None:
        self._run("pg_ctl", "-D", str(data), "-l", str(data.parent / f"{data.name}.log"), "-w", "-t", "30",
                  "-o", f"-p {port} -k {self.directory}", "start")
        self.running.add(str(data))

    def _pg_ctl_stop(self, data: Path, mode: str) -> None:
        if str(data) in self.running:
            self._run("pg_ctl", "-D", str(data), "-m", mode, "-w", "-t", "30", "stop")
            self.running.discard(str(data))

    def start(self) -> StreamingPair:
        try:
            self._run("initdb", "-D", str(self.primary_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync")
            with open(self.primary_dir / "postgresql.conf", "a") as conf:
                conf.write(SERVER_SETTINGS)
            self._pg_ctl_start(self.primary_dir, self.primary_port)
            with self.connect("primary", "postgres") as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
            # the standby: a base backup that writes standby.signal and primary_conninfo (-R), streaming WAL
            self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                      "-D", str(self.standby_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync")
            self.start_standby()
        except BaseException:
            self.stop()
            raise
        return self

    def start_standby(self) -> None:
        self._pg_ctl_start(self.standby_dir, self.standby_port)
        wait_for(lambda: self._answers("standby"), what="the standby accepting connections")

    def stop_standby(self) -> None:
        self._pg_ctl_stop(self.standby_dir, "fast")

    def stop(self) -> None:
        for data in (self.standby_dir, self.primary_dir):
            with contextlib.suppress(Exception):
                self._pg_ctl_stop(data, "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- talking to them ----------------------------------------------------------------------------------------
    def url(self, which: str) -> str:
        port = self.primary_port if which == "primary" else self.standby_port
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"

    def connect(self, which: str, dbname: str = DATABASE) -> psycopg.Connection:
        port = self.primary_port if which == "primary" else self.standby_port
        return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname, autocommit=True,
                               connect_timeout=3)

    def _answers(self, which: str) -> bool:
        try:
            with self.connect(which, "postgres") as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.OperationalError:
            return False

    def value(self, which: str, sql: str, params=()):
        with self.connect(which) as conn:
            return conn.execute(sql, params).fetchone()[0]

    def caught_up(self) -> None:
        """Wait until the standby has replayed everything the primary has written so far."""
        target = self.value("primary", "SELECT pg_current_wal_insert_lsn()")
        wait_for(lambda: self.value("standby", "SELECT pg_last_wal_replay_lsn() >= %s", (target,)),
                 what="the standby replaying the primary's WAL")

    def pause_replay(self) -> None:
        self.value("standby", "SELECT pg_wal_replay_pause()::text")
        wait_for(lambda: self.value("standby", "SELECT pg_get_wal_replay_pause_state()") == "paused",
                 what="replay paused")

    def resume_replay(self) -> None:
        self.value("standby", "SELECT pg_wal_replay_resume()::text")


class AppServer:
    """gunicorn serving Waybill against the pair; its log (our warnings included) in `log_path`."""

    def __init__(self, pair: StreamingPair, *, name: str, **settings: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = pair.directory / f"{name}.log"
        base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
        self.env = {**base, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": pair.url("primary"),
                    "DATABASE_REPLICA_URL": pair.url("standby"), "PYTHONUNBUFFERED": "1",
                    "REDIS_URL": "",  # no Redis: the cache is in memory, tasks run in-process, /health/ skips it
                    **settings}
        self.process: subprocess.Popen | None = None

    def start(self) -> AppServer:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", "1", "--threads", "4", "--timeout", "60", "--graceful-timeout", "2"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_ready(self) -> AppServer:
        def up():
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.log()}")
            try:
                return requests.get(f"{self.url}/health/live/", timeout=10).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False

        wait_for(up, timeout=60, interval=0.1, what="the server answering")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def prepare_database(pair: StreamingPair) -> dict:
    """Migrate the primary's database and seed it (tests/replica_seed.py); returns what the seed made."""
    import json

    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": pair.url("primary"), "REDIS_URL": ""})
    result = subprocess.run([sys.executable, "-m", "tests.replica_seed"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=180, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"seeding the private primary failed: {result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])
