"""The zero-setup demo (SQLite, in-process tasks) tells the customer each thing once, as PostgreSQL does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def demo_env(tmp_path) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "REDIS_URL": "",
           "WAYBILL_MEDIA_ROOT": str(tmp_path / "media")}
    for name in ("EMAIL_URL", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    return env


def test_the_demo_emails_each_hand_over_and_delivery_once(tmp_path):
    # given the demo's configuration: SQLite and tasks run in-process (no Redis)
    env = demo_env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    # when a parcel is handed to the carrier and then delivered
    run = subprocess.run([sys.executable, "-m", "tests.notifications.demo_scenario"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True)
    story = json.loads(run.stdout.strip().splitlines()[-1])
    number = story["order"]
    # then the customer got one email per step: the parcel's emails replace the order's plain ones
    assert story["subjects"] == [
        f"We received your order {number}",
        f"Your order {number} is confirmed",
        f"Your order {number} has shipped with Local courier",
        f"Your order {number} was delivered",
    ]
    assert ["shipment.delivered", "sent"] in story["notifications"]
    assert ["order.delivered", "sent"] not in story["notifications"]
