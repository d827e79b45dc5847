"""Production settings: `manage.py check --deploy` is clean, and there are no insecure defaults."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "waybill.example.com",
    "DATABASE_URL": "postgres://waybill@db.example.com:5432/waybill",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "EMAIL_URL": "smtp+tls://waybill:mail-secret@mail.example.com:587",
    "WAYBILL_SITE_URL": "https://waybill.example.com",
}


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only the basics of this environment: no settings or secrets of the test run leak into the check.
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_python("manage.py", *args, env=env)


def production_says(code: str, **changes: str | None) -> str:
    """What `code` prints under the production settings, with some variables changed (None: unset)."""
    env = {k: v for k, v in {**PRODUCTION_ENV, **changes}.items() if v is not None}
    result = run_python("-c", "import django; django.setup()\n" + code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


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


@pytest.mark.parametrize("name", ["EMAIL_URL", "WAYBILL_SITE_URL", "REDIS_URL", "DATABASE_URL"])
def test_production_settings_refuse_to_start_without(name):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != name}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert name in result.stderr and "ImproperlyConfigured" in result.stderr


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi", "config.celery"])
def test_servers_and_workers_default_to_production(module):
    # given no DJANGO_SETTINGS_MODULE: the web server's and the worker's entry points choose production
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = run_python("-c", f"import {module}\nimport django; django.setup()\n"
                              "from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)",
                        env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["config.settings.production", "False"]
    # and so, without production's variables, they refuse to start rather than run with development defaults
    bare = run_python("-c", f"import {module}\nimport django; django.setup()", env={})
    assert bare.returncode != 0 and "ImproperlyConfigured" in bare.stderr


def test_manage_make_run_and_the_procfile_choose_development():
    result = run_manage("shell", "-c", "from django.conf import settings; print(settings.SETTINGS_MODULE)", env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "config.settings.dev"
    for line in (ROOT / "Procfile").read_text().splitlines():
        # every process (the worker and beat inside their restart loops) starts with development by default
        command = line.split(":", 1)[1].strip().removeprefix("while :; do ")
        assert command.startswith("DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.dev} "), line
    assert "DJANGO_SETTINGS_MODULE=config.settings.dev" in (ROOT / "Makefile").read_text()


def test_email_url_options_reach_the_backend():
    code = "from django.core.mail import get_connection; c = get_connection(); print(type(c).__module__, c.timeout)"
    # given a timeout in EMAIL_URL, the SMTP backend gets it
    assert production_says(code, EMAIL_URL="smtp+tls://u:p@mail.example.com:587?timeout=7") == \
        "django.core.mail.backends.smtp 7.0"
    # without one, EMAIL_TIMEOUT's default: never a connection without a timeout
    assert production_says(code) == "django.core.mail.backends.smtp 10.0"
    assert production_says(code, EMAIL_TIMEOUT="3") == "django.core.mail.backends.smtp 3.0"


def test_an_email_url_option_django_does_not_know_stops_the_start():
    env = {**PRODUCTION_ENV, "EMAIL_URL": "smtp://mail.example.com:25?timeuot=5"}
    result = run_manage("check", env=env)
    assert result.returncode != 0 and "timeuot" in result.stderr


def test_celery_tasks_have_soft_and_hard_time_limits():
    soft, hard = production_says("from config.celery import app; "
                                 "print(app.conf.task_soft_time_limit, app.conf.task_time_limit)").split()
    assert 0 < int(soft) < int(hard)


HTTPS_PROBE = """
from django.test import Client
from django.conf import settings
settings.ALLOWED_HOSTS = ["waybill.example.com"]
plain = Client().get("/api/nowhere/", HTTP_HOST="waybill.example.com")
proxied = Client().get("/api/nowhere/", HTTP_HOST="waybill.example.com", HTTP_X_FORWARDED_PROTO="https")
print(plain.status_code, plain.get("Location"), proxied.status_code)
"""


def test_behind_a_tls_proxy_its_forwarded_proto_is_trusted():
    # given the default deployment: plain HTTP behind a TLS-terminating proxy
    plain, location, proxied = production_says(HTTPS_PROBE).split()
    # then a request the proxy marks as HTTPS is served (here: the API's JSON 404); one that is not goes to HTTPS
    assert (plain, location, proxied) == ("301", "https://waybill.example.com/api/nowhere/", "404")


def test_without_a_tls_proxy_a_forwarded_proto_from_the_client_is_not_believed():
    plain, _, proxied = production_says(HTTPS_PROBE, WAYBILL_BEHIND_TLS_PROXY="false").split()
    assert plain == proxied == "301"
