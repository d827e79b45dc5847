"""Local development and the zero-setup demo: SQLite and in-process tasks unless DATABASE_URL / REDIS_URL."""

from decimal import Decimal

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Emails the demo sends (order updates, parcels) are written as files rather than printed over the server log.
if not env("EMAIL_URL", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = BASE_DIR / "var" / "mail"

# In-process tasks would log a "Task ... succeeded" line for every email; keep the demo's log readable.
LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}  # noqa: F405

# Staff alerts (late parcels, SLA breaches, returns waiting) land in the demo staff mailbox: files in var/mail, and
# each one listed in the admin under Notifications.
WAYBILL_STAFF_ALERT_EMAILS = env.list("WAYBILL_STAFF_ALERT_EMAILS", default=["staff@waybill.localhost"])

# The demo shop charges 4.90 for shipping, free from 50.00 (its seeded orders were priced so).
WAYBILL_SHIPPING_RATE = Decimal(env("WAYBILL_SHIPPING_RATE", default="4.90"))
WAYBILL_FREE_SHIPPING_FROM = Decimal(env("WAYBILL_FREE_SHIPPING_FROM", default="50.00") or "0") or None
