"""Settings shared by every environment. Values come from the environment (django-environ)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_countries",
    "django_fsm",  # templates for the admin's transition buttons and forms
    "django_htmx",
    "template_partials",
    "inventory",
    "orders",
    "shipping",
    "returns",
    "support",
    "notifications",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.unavailable.DatabaseUnavailableMiddleware",  # the database out of reach: 503 + Retry-After
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "support.context_processors.htmx",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# An unreachable PostgreSQL fails a connect within this many seconds: the API answers 503 quickly (config.unavailable)
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WAYBILL_HTMX_AVAILABLE = (BASE_DIR / "node_modules" / "htmx.org" / "dist").is_dir()  # `npm ci` (make run, test)
if WAYBILL_HTMX_AVAILABLE:
    STATICFILES_DIRS.append(("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"))
# Uploaded files (return photos). Served by Django only to the people allowed to see them, never as /media/.
MEDIA_ROOT = env.path("WAYBILL_MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:order-list"
LOGOUT_REDIRECT_URL = "portal:home"

# --- API -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous call then gets 401 with a WWW-Authenticate header, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.StandardPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Waybill API",
    "DESCRIPTION": "Orders, inventory and fulfilment for e-commerce back offices.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "PaymentStatusEnum": "orders.models.Order.PaymentStatus",
        "ShipmentStatusEnum": "shipping.models.Shipment.Status",
        "ShipmentExceptionReasonEnum": "shipping.models.Shipment.ExceptionReason",
        "ReturnStatusEnum": "returns.models.ReturnRequest.Status",
        "ReturnResolutionEnum": "returns.models.ReturnRequest.Resolution",
        "ReturnHandlingEnum": "returns.models.ReturnRequest.Handling",
        "ReturnReasonEnum": "returns.models.Reason",
        "ReturnDispositionEnum": "returns.models.ReturnLine.Disposition",
        "ReturnChannelEnum": "returns.models.ReturnRequest.Channel",
        "TicketStatusEnum": "support.models.Ticket.Status",
        "TicketChannelEnum": "support.models.Ticket.Channel",
        "TicketAgentChannelEnum": "support.serializers.AGENT_CHANNELS",
    },
}

# --- Business defaults -----------------------------------------------------------------------------------
WAYBILL_CURRENCY = env("WAYBILL_CURRENCY", default="EUR")
WAYBILL_SHOP_NAME = env("WAYBILL_SHOP_NAME", default="Waybill demo shop")  # on invoices
WAYBILL_IDEMPOTENCY_TTL_HOURS = env.int("WAYBILL_IDEMPOTENCY_TTL_HOURS", default=24)

# --- Celery (Redis broker) -------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_RETRY_DELAY = 10
# Publishing must fail fast when Redis is down (the outbox sweep sends the backlog later); the visibility timeout
# outlasts the longest retry countdown (WAYBILL_NOTIFY_RETRY_MAX_SECONDS) so a delayed retry is never redelivered.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60, "socket_connect_timeout": 1, "socket_timeout": 5}
# A task in the middle of an SMTP conversation when Redis goes away finishes it (cancelling it would leave its
# email uncertain); Celery 6 changes this default, so it is said here.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE: dict = {
    "orders-idempotency-keys-purge": {"task": "orders.tasks.idempotency_keys_purge_task", "schedule": 60 * 60},
    "shipping-overdue-scan-alerts": {"task": "shipping.tasks.shipment_alert_overdue_scans_task", "schedule": 15 * 60},
    "returns-overdue-alerts": {"task": "returns.tasks.return_alert_overdue_task", "schedule": 15 * 60},
    "support-sla-alerts": {"task": "support.tasks.sla_alert_task", "schedule": 5 * 60},
    "support-close-solved": {"task": "support.tasks.ticket_close_solved_task", "schedule": 60 * 60},
    "notifications-outbox-sweep": {
        "task": "notifications.tasks.outbox_sweep_task",
        "schedule": env.float("WAYBILL_OUTBOX_SWEEP_SECONDS", default=30.0),
    },
}

# --- Email -----------------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Waybill <orders@waybill.localhost>")
# Seconds per SMTP operation (connect, each command): a mail server that hangs never holds a worker for long.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)

# --- Shipping (shipping/) --------------------------------------------------------------------------------
WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS = env.int("WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS", default=48)
WAYBILL_TRACKING_RATE_LIMIT = env.int("WAYBILL_TRACKING_RATE_LIMIT", default=30)
WAYBILL_TRACKING_RATE_WINDOW_SECONDS = env.int("WAYBILL_TRACKING_RATE_WINDOW_SECONDS", default=60)

# --- Returns and claims (returns/) --------------------------------------------------------------------------
WAYBILL_RETURN_WINDOW_DAYS = env.int("WAYBILL_RETURN_WINDOW_DAYS", default=30)  # products may set their own
WAYBILL_DEFECT_CLAIM_DAYS = env.int("WAYBILL_DEFECT_CLAIM_DAYS", default=730)  # defects: the legal guarantee
WAYBILL_ADVANCE_REPLACEMENT_DAYS = env.int("WAYBILL_ADVANCE_REPLACEMENT_DAYS", default=14)
WAYBILL_RETURN_UNRESOLVED_ALERT_HOURS = env.int("WAYBILL_RETURN_UNRESOLVED_ALERT_HOURS", default=72)
WAYBILL_RETURN_PHOTO_MAX_BYTES = env.int("WAYBILL_RETURN_PHOTO_MAX_BYTES", default=5 * 1024 * 1024)
WAYBILL_RETURN_PHOTOS_PER_LINE = env.int("WAYBILL_RETURN_PHOTOS_PER_LINE", default=5)
WAYBILL_RETURN_CARRIER = env("WAYBILL_RETURN_CARRIER", default="local")  # return labels, unless the parcel's own

# --- Portal (portal/) ---------------------------------------------------------------------------------------
WAYBILL_ORDER_LINK_DAYS = env.int("WAYBILL_ORDER_LINK_DAYS", default=90)  # email links open the order this long
WAYBILL_ORDER_LOOKUP_LIMIT = env.int("WAYBILL_ORDER_LOOKUP_LIMIT", default=10)  # guest lookups per client/order
WAYBILL_ORDER_LOOKUP_WINDOW_SECONDS = env.int("WAYBILL_ORDER_LOOKUP_WINDOW_SECONDS", default=600)
WAYBILL_PORTAL_REFRESH_SECONDS = env.int("WAYBILL_PORTAL_REFRESH_SECONDS", default=10)  # an open order page

# --- Support (support/) -------------------------------------------------------------------------------------
WAYBILL_SUPPORT_EMAIL = env("WAYBILL_SUPPORT_EMAIL", default="support@waybill.localhost")  # replies come back here
WAYBILL_INBOUND_EMAIL_SECRET = env("WAYBILL_INBOUND_EMAIL_SECRET", default="")  # signs POSTed raw email
WAYBILL_TICKET_REOPEN_DAYS = env.int("WAYBILL_TICKET_REOPEN_DAYS", default=7)
WAYBILL_TICKET_CLOSE_AFTER_DAYS = env.int("WAYBILL_TICKET_CLOSE_AFTER_DAYS", default=4)
WAYBILL_SUPPORT_ATTACHMENT_MAX_BYTES = env.int("WAYBILL_SUPPORT_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
WAYBILL_SUPPORT_ATTACHMENTS_PER_MESSAGE = env.int("WAYBILL_SUPPORT_ATTACHMENTS_PER_MESSAGE", default=5)

# --- Cache: Redis when there is one (rate limits must be shared by every worker process) ------------------
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("CACHE_URL", default=REDIS_URL)}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Notifications (notifications/) ------------------------------------------------------------------------
WAYBILL_SITE_URL = env("WAYBILL_SITE_URL", default="http://localhost:8000")
WAYBILL_STAFF_ALERT_EMAILS = env.list("WAYBILL_STAFF_ALERT_EMAILS", default=[])
WAYBILL_NOTIFY_MAX_ATTEMPTS = env.int("WAYBILL_NOTIFY_MAX_ATTEMPTS", default=6)
WAYBILL_NOTIFY_RETRY_BASE_SECONDS = env.float("WAYBILL_NOTIFY_RETRY_BASE_SECONDS", default=10.0)
WAYBILL_NOTIFY_RETRY_MAX_SECONDS = env.float("WAYBILL_NOTIFY_RETRY_MAX_SECONDS", default=900.0)
WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS = env.int("WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS", default=60)
# A "sending" email older than this was left by a lost worker (the send tasks' hard time limit is 3/4 of it); it
# becomes "uncertain" and is sent again, with the same Message-ID, this long after (docs/operations.md).
WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS = env.float("WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS", default=60.0)
WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS = env.float("WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS", default=60.0)
WAYBILL_WEBHOOK_MAX_ATTEMPTS = env.int("WAYBILL_WEBHOOK_MAX_ATTEMPTS", default=8)
WAYBILL_WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WAYBILL_WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
WAYBILL_WEBHOOK_TIMEOUT_SECONDS = env.float("WAYBILL_WEBHOOK_TIMEOUT_SECONDS", default=5.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
