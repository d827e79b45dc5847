"""Create, clone and drop the benchmark's own databases. Only `waybill_bench*` databases are ever touched."""

from __future__ import annotations

import os
import subprocess
import time

import psycopg
from psycopg import sql

from .runtime import BENCH_DB, PG_SERVER, PYTHON, ROOT, TEMPLATE_DB, env_for

SEED_VERSION = "9"  # bump when bench/seed.py changes what it writes: the template is then rebuilt
SEED_TAG = f"{SEED_VERSION}/{os.environ.get('BENCH_ORDERS', '1000000')}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True)


def _guard(name: str) -> None:
    if not name.startswith("waybill_bench"):
        raise SystemExit(f"refusing to touch database {name!r}: the benchmark only owns waybill_bench*")


def exists(name: str) -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def drop(name: str) -> None:
    _guard(name)
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create(name: str, *, template: str | None = None) -> None:
    _guard(name)
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with _admin() as conn:
        for attempt in range(20):  # a just-closed session may linger on the template for a moment
            try:
                conn.execute(query)
                return
            except psycopg.errors.ObjectInUse:
                time.sleep(0.5 * (attempt + 1))
        conn.execute(query)


def template_version() -> str | None:
    if not exists(TEMPLATE_DB):
        return None
    with psycopg.connect(f"{PG_SERVER}/{TEMPLATE_DB}") as conn:
        row = conn.execute("SELECT to_regclass('bench_seed')").fetchone()
        if row[0] is None:
            return None
        row = conn.execute("SELECT version FROM bench_seed").fetchone()
        return row[0] if row else None


def manage(db_name: str, *args: str) -> None:
    subprocess.run([PYTHON, "-m", "django", *args], cwd=ROOT, env=env_for(db_name), check=True)


def run_module(db_name: str, module: str, *args: str) -> None:
    subprocess.run([PYTHON, "-m", module, *args], cwd=ROOT, env=env_for(db_name), check=True)


def prepare(log) -> dict:
    """Make sure the seeded template exists and is migrated, then clone a fresh bench database from it."""
    started = time.perf_counter()
    info = {"template": TEMPLATE_DB, "database": BENCH_DB, "seeded_now": False}
    if template_version() != SEED_TAG:
        log(f"seeding {TEMPLATE_DB} (once; later runs clone it)")
        drop(TEMPLATE_DB)
        create(TEMPLATE_DB)
        manage(TEMPLATE_DB, "migrate", "--verbosity", "0")
        t = time.perf_counter()
        run_module(TEMPLATE_DB, "bench.seed", SEED_TAG)
        info["seeded_now"] = True
        info["seed_seconds"] = round(time.perf_counter() - t, 1)
    else:
        manage(TEMPLATE_DB, "migrate", "--verbosity", "0")  # new migrations land in the template, not each clone
        with psycopg.connect(f"{PG_SERVER}/{TEMPLATE_DB}", autocommit=True) as conn:
            conn.execute("ANALYZE")
    t = time.perf_counter()
    drop(BENCH_DB)
    create(BENCH_DB, template=TEMPLATE_DB)
    info["clone_seconds"] = round(time.perf_counter() - t, 1)
    info["prepare_seconds"] = round(time.perf_counter() - started, 1)
    return info
