"""Production settings: `manage.py check --deploy` is clean, and there are no insecure defaults."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "waybill.example.com",
    "DATABASE_URL": "postgres://waybill@db.example.com:5432/waybill",
    "REDIS_URL": "redis://cache.example.com:6379/0",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only the basics of this environment: no settings or secrets of the test run leak into the check.
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_check_deploy_is_clean_with_production_settings():
    # when the deployment checklist runs with the production environment
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    # then it passes without a single warning
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output.upper()


def test_production_settings_refuse_to_start_without_secret_key():
    # given the production environment without SECRET_KEY
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}

    # when Django loads the settings
    result = run_manage("check", env=env)

    # then it stops, naming the missing variable
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "ImproperlyConfigured" in result.stderr
