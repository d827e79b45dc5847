"""Names shared by the runner and the settings: which databases and Redis DB the benchmark owns."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
PYTHON = sys.executable

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
BENCH_DB = os.environ.get("BENCH_DB", "waybill_bench")
TEMPLATE_DB = os.environ.get("BENCH_TEMPLATE_DB", "waybill_bench_template")
# A process may be pointed elsewhere (the pooler scenario's workers reach the same database through PgBouncer).
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL") or f"{PG_SERVER}/{BENCH_DB}"
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
SETTINGS = "bench.settings"


def env_for(db_name: str) -> dict[str, str]:
    """Environment for a child process that works on `db_name` with the bench settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "BENCH_DATABASE_URL", "DATABASE_POOLER",
                     "BENCH_DATABASE_POOLER")}
    env.update(DJANGO_SETTINGS_MODULE=SETTINGS, BENCH_DB=db_name, PYTHONPATH=str(ROOT))
    return env
