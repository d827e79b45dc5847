"""Test settings: PostgreSQL when DATABASE_URL is set or 127.0.0.1:5432 answers, SQLite otherwise.

With REQUIRE_SERVICES=1 an unreachable PostgreSQL stops the run (see tests/conftest.py).

Two checkouts on one machine never share test state: the test database is named after the checkout
(test_waybill_<id>, or WAYBILL_TEST_DATABASE), and every Redis key the tests write (Celery's queues) carries the
checkout's prefix in the Redis DB WAYBILL_TEST_REDIS_DB (default 15)."""

import hashlib
import os
import socket
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import BASE_DIR, CELERY_BROKER_TRANSPORT_OPTIONS, add_replicas, database_for_pooler, env

CHECKOUT_ID = hashlib.sha1(str(BASE_DIR.resolve()).encode()).hexdigest()[:8]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
elif _port_open("127.0.0.1", 5432):
    _user = os.environ.get("PGUSER", "postgres")
    DATABASES = {"default": env.db_url_config(f"postgres://{_user}@127.0.0.1:5432/waybill")}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "test.sqlite3"}}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"] = database_for_pooler(DATABASES["default"], "")  # prepared statements, as in production
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["TEST"] = {"NAME": env("WAYBILL_TEST_DATABASE", default=f"test_waybill_{CHECKOUT_ID}")}
DATABASE_ROUTERS = add_replicas(DATABASES)  # DATABASE_REPLICA_URL: aliases that mirror the test database

DEBUG = False
SECRET_KEY = "test-only-key"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REDIS_URL = env("REDIS_URL", default=f"redis://127.0.0.1:6379/{env.int('WAYBILL_TEST_REDIS_DB', default=15)}")
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS,
                                   "global_keyprefix": f"waybill-test-{CHECKOUT_ID}:"}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
WAYBILL_OUTBOX_RELAY = False  # each transaction publishes its own rows; tests of the relay turn it on
LOGGING = {"version": 1, "disable_existing_loggers": False}
MEDIA_ROOT = Path(tempfile.gettempdir()) / "waybill-test-media"
# The suite makes thousands of API calls from one address within minutes; tests of throttling set their own rates.
REST_FRAMEWORK = {**REST_FRAMEWORK,  # noqa: F405
                  "DEFAULT_THROTTLE_RATES": {scope: "100000/minute"
                                             for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}}  # noqa: F405
