"""Settings for `make bench`: the production code path against a disposable PostgreSQL database.

The database comes from BENCH_DATABASE_URL (never DATABASE_URL, so a developer's own database is never
touched). Connections persist (CONN_MAX_AGE), DEBUG is off, as in production.
"""

import warnings

from config.settings.base import *  # noqa: F403
from config.settings.base import database_for_pooler, env

from .runtime import BENCH_DATABASE_URL, BENCH_REDIS_URL

DEBUG = False
SECRET_KEY = "bench-only-key"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# Read when the settings load: a worker of the pooler scenario is given BENCH_DATABASE_URL (PgBouncer) after its
# process started, so bench.runtime's value (read when bench was first imported) can be the direct one.
DATABASES = {"default": env.db_url_config(env("BENCH_DATABASE_URL", default=BENCH_DATABASE_URL))}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = None
# The pooler scenario's processes reach the database through PgBouncer: BENCH_DATABASE_URL names it and
# BENCH_DATABASE_POOLER=pgbouncer-transaction gives them the settings DATABASE_POOLER gives the application.
DATABASES["default"] = database_for_pooler(DATABASES["default"], env("BENCH_DATABASE_POOLER", default=""))
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REDIS_URL = BENCH_REDIS_URL
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
# As in production: the outbox relay hands the rows over (bench.relay runs it beside the order scenarios);
# WAYBILL_OUTBOX_RELAY=false measures the publish after each commit instead.
WAYBILL_OUTBOX_RELAY = env.bool("WAYBILL_OUTBOX_RELAY", default=True)
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# Static files are not collected for a benchmark; the admin pages need none of them to be measured.
warnings.filterwarnings("ignore", message="No directory at")

# A load test is many requests of a few users from one address: the API's throttles stay in the code path (each
# request still counts in the cache) but never answer 429, or the figures would measure the throttle.
REST_FRAMEWORK = {**REST_FRAMEWORK,  # noqa: F405
                  "DEFAULT_THROTTLE_RATES": {scope: "10000000/minute"
                                             for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}}  # noqa: F405
# The public tracking page's per-client limit likewise (its counter is still kept).
WAYBILL_TRACKING_RATE_LIMIT = 10_000_000
