"""A private PgBouncer (Debian's /usr/sbin/pgbouncer) on a free port, in front of an existing PostgreSQL.

Used by the benchmark's pooler scenario and by the tests that run Waybill through a transaction pooler. It never
touches the machine's own PgBouncer (if any): its configuration, its log and its port are its own, and it is
stopped (and its directory removed) by stop() or at the end of a `with` block.

    with PgBouncer(server_port=5432, pool_size=4) as bouncer:
        url = bouncer.url("mydb")            # postgres://postgres@127.0.0.1:<port>/mydb
        bouncer.pools()                      # SHOW POOLS, as dicts
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import tools


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    def __init__(self, *, server_host: str = "127.0.0.1", server_port: int = 5432, user: str = "postgres",
                 pool_size: int = 4, mode: str = "transaction", max_client_conn: int = 500):
        self.server_host, self.server_port, self.user = server_host, server_port, user
        self.pool_size, self.mode, self.max_client_conn = pool_size, mode, max_client_conn
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.directory: Path | None = None

    @property
    def log(self) -> str:
        path = self.directory / "pgbouncer.log" if self.directory else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def url(self, dbname: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> PgBouncer:
        binary = tools.find("pgbouncer")
        if binary is None:
            raise RuntimeError("pgbouncer is not installed (Debian package pgbouncer)")
        # Its own directory, readable by the unprivileged user it runs as when started by root (it refuses root).
        self.directory = Path(tempfile.mkdtemp(prefix="waybill-pgbouncer-"))
        self.directory.chmod(0o755)
        users = self.directory / "users.txt"
        users.write_text(f'"{self.user}" ""\n')
        config = self.directory / "pgbouncer.ini"
        config.write_text("\n".join([
            "[databases]",
            f"* = host={self.server_host} port={self.server_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {users}",
            f"pool_mode = {self.mode}",
            f"default_pool_size = {self.pool_size}",
            "min_pool_size = 0",
            "reserve_pool_size = 0",
            f"max_client_conn = {self.max_client_conn}",
            f"admin_users = {self.user}",
            f"stats_users = {self.user}",
            "ignore_startup_parameters = extra_float_digits",
            "",
        ]))
        for path in (users, config):
            path.chmod(0o644)
        command = [binary]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]
        command.append(str(config))
        log = (self.directory / "pgbouncer.log").open("w")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        log_text = self.log[-2000:]
        self.stop()
        raise RuntimeError(f"pgbouncer did not start: {log_text}")

    def admin(self, command: str) -> list[dict]:
        """A command on PgBouncer's admin console (SHOW POOLS, SHOW STATS...), its rows as dicts."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.url("pgbouncer"), autocommit=True, row_factory=dict_row) as conn:
            return conn.execute(command).fetchall()

    def pools(self, dbname: str | None = None) -> list[dict]:
        return [row for row in self.admin("SHOW POOLS") if dbname is None or row["database"] == dbname]

    def stats(self, dbname: str) -> dict:
        return next((row for row in self.admin("SHOW STATS") if row["database"] == dbname), {})

    def server_connections(self, dbname: str) -> int:
        """Connections PgBouncer holds to PostgreSQL for `dbname` right now (in use, idle or being tested)."""
        return sum(row["sv_active"] + row["sv_idle"] + row["sv_used"] + row["sv_tested"] + row["sv_login"]
                   for row in self.pools(dbname))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)  # "fast exit": clients are not waited for
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
