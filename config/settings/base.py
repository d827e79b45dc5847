"""Settings shared by every environment. Values come from the environment (django-environ)."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

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
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc from our own static files
    "csp",
    "health_check",
    "simple_history",
    "django_countries",
    "django_fsm",  # templates for the admin's transition buttons and forms
    "django_htmx",
    "template_partials",
    "import_export",
    "config.apps.WaybillConfig",  # shared rules for every app's input (config/apps.py)
    "inventory",
    "orders",
    "shipping",
    "returns",
    "support",
    "notifications",
    "portal",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "config.middleware.RefuseControlCharactersMiddleware",  # before anything reads the URL into a query
    "config.unavailable.DatabaseUnavailableMiddleware",  # the database out of reach: 503 + Retry-After
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Read-only requests to a replica, and each client's last write remembered (config/replicas.py). Inside
    # DatabaseUnavailableMiddleware, outside SessionMiddleware; not used at all without DATABASE_REPLICA_URL.
    "config.replicas.ReplicaMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",  # history rows name the person who made the change
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.PrivatePagesMiddleware",
    # Last: turns a login that django-axes refused into the lockout page (config.ratelimit.login_lockout_response).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out client before any password is checked
    "django.contrib.auth.backends.ModelBackend",
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
                "csp.context_processors.nonce",
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

# --- Behind a connection pooler (docs/scaling.md) -------------------------------------------------------------
# DATABASE_POOLER=pgbouncer-transaction when DATABASE_URL names PgBouncer in transaction mode. Each transaction (and
# each statement outside one) may then run on another server connection, so nothing may outlive a transaction on
# the server: no server-side cursors (a WITH HOLD cursor would be looked for on the wrong connection), no prepared
# statements (psycopg's are per connection: those a direct connection gets, below, are taken back, and any other
# prepare_threshold is refused),
# no server-side binding, no SET ROLE (assume_role), and not Django's own pool in front of PgBouncer's.
DATABASE_POOLERS = ("", "pgbouncer-transaction")
# Prepared statements, on a direct connection to PostgreSQL (no pooler): with server-side binding, psycopg prepares a
# statement on its connection once the connection has run it DATABASE_PREPARE_THRESHOLD times, and PostgreSQL parses
# it no more. It pays with persistent connections (CONN_MAX_AGE; production's is 60 s).
# DATABASE_PREPARED_STATEMENTS=false turns it off.
# A prepared statement is still planned for each run's values (plan_cache_mode=force_custom_plan, for the session):
# left to choose, PostgreSQL moved searches to generic plans that ignore what is searched for (the support desk's
# search went from 15 to 700 ms at a million orders). The order placement asks for generic plans in its own
# transaction (config.db.GENERIC_PLANS): its planning was most of the database's time per order. An `options` of
# the settings' own is kept as it is: add the plan cache mode to it.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DATABASE_PREPARE_THRESHOLD = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
_PREPARED_OPTIONS = {"server_side_binding": True, "prepare_threshold": DATABASE_PREPARE_THRESHOLD,
                     "options": "-c plan_cache_mode=force_custom_plan"}


def database_for_pooler(database: dict, pooler: str) -> dict:
    """`database` (a DATABASES entry) made ready for `pooler`. Without one (a direct connection to PostgreSQL),
    prepared statements on (above); with one, what that added is taken back and options that keep state in a server
    session are refused."""
    if pooler not in DATABASE_POOLERS:
        raise ImproperlyConfigured(f"DATABASE_POOLER must be one of {', '.join(p for p in DATABASE_POOLERS if p)} "
                                   f"or empty, not {pooler!r}")
    postgresql = database["ENGINE"].endswith("postgresql")
    if not pooler:
        if postgresql and DATABASE_PREPARED_STATEMENTS:  # new dicts: a copy of `database` may share the old ones
            options = database.get("OPTIONS", {})
            added = {name: value for name, value in _PREPARED_OPTIONS.items() if name not in options}
            database["OPTIONS"] = {**options, **added}
            database["PREPARED_OPTIONS_ADDED"] = [*database.get("PREPARED_OPTIONS_ADDED", ()), *added]
        return database
    if not postgresql:
        raise ImproperlyConfigured(f"DATABASE_POOLER={pooler} needs PostgreSQL")
    ours = database.pop("PREPARED_OPTIONS_ADDED", ())  # what this function added for a direct connection
    options = database["OPTIONS"] = {k: v for k, v in database.get("OPTIONS", {}).items() if k not in ours}
    refused = {
        "server_side_binding": options.get("server_side_binding") is True,
        "prepare_threshold": options.get("prepare_threshold") is not None,
        "pool": bool(options.get("pool")),
        "assume_role": bool(options.get("assume_role")),
    }
    if any(refused.values()):
        raise ImproperlyConfigured(f"DATABASE_POOLER={pooler}: these database OPTIONS keep state in a server session "
                                   f"and cannot be used: {', '.join(name for name, bad in refused.items() if bad)}")
    database["DISABLE_SERVER_SIDE_CURSORS"] = True  # .iterator() fetches in chunks from a client-side result
    # A connection PgBouncer closed (client_idle_timeout, a restart) is replaced before a request uses it.
    database["CONN_HEALTH_CHECKS"] = True
    return database


DATABASE_POOLER = env("DATABASE_POOLER", default="")
DATABASES["default"] = database_for_pooler(DATABASES["default"], DATABASE_POOLER)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Read replicas (config/replicas.py, docs/operations.md) ------------------------------------------------------
# DATABASE_REPLICA_URL: one or more streaming replicas of DATABASE_URL, comma-separated (a comma inside a URL is
# written %2C). Each becomes an alias replica1, replica2, ... with the primary's options; read-only pages and list
# APIs read from them, everything else from the primary.
DATABASE_REPLICA_URLS = [url.strip() for url in env.list("DATABASE_REPLICA_URL", default=[]) if url.strip()]
# A replica further behind than this is not read from (reads go to the primary) and /health/ warns about it.
WAYBILL_REPLICA_MAX_LAG_SECONDS = env.float("WAYBILL_REPLICA_MAX_LAG_SECONDS", default=30.0)
# How long a replica's measured position is trusted (one query per replica and web process per period), and how
# long one that did not answer is left alone before it is tried again.
WAYBILL_REPLICA_CHECK_SECONDS = env.float("WAYBILL_REPLICA_CHECK_SECONDS", default=1.0)
WAYBILL_REPLICA_RETRY_SECONDS = env.float("WAYBILL_REPLICA_RETRY_SECONDS", default=5.0)
# GET and HEAD requests that may read from a replica: URL names ("namespace:name", "namespace:*") and URL path
# prefixes; a view may also say so itself with config.replicas.replica_reads (or refuse with primary_reads).
WAYBILL_REPLICA_READ_VIEWS = [
    # the customer's pages (not portal:verify: that GET activates an account)
    *(f"portal:{name}" for name in (
        "home", "order-list", "order-lookup", "order-detail", "order-invoice", "order-address", "report-problem",
        "return-list", "return-detail", "return-label", "ticket-list", "ticket-new", "ticket-detail",
        "notifications", "notification")),
    "shipping:*",  # the public tracking page
    # list and detail APIs (their GETs; a POST to the same URL is a write)
    "order-list", "order-detail", "order-draft-list", "order-draft-detail", "return-list", "return-detail",
    "shipment-list", "shipment-detail", "ticket-list", "ticket-detail", "product-list", "product-detail",
    "stock-list", "stock-movement-list", "warehouse-list", "warehouse-detail", "goods-receipt-list",
    "goods-receipt-detail", "serial-lookup",
]
WAYBILL_REPLICA_READ_PATHS = ["/analytics/"]


def add_replicas(databases: dict) -> list[str]:
    """Add an alias per DATABASE_REPLICA_URL to `databases`, with the primary's options (connect timeout,
    CONN_MAX_AGE, ...); the test runner points them at the primary's test database (TEST MIRROR) instead of
    creating one. Returns the DATABASE_ROUTERS these databases need."""
    if not DATABASE_REPLICA_URLS:
        return []
    primary = databases["default"]
    if not primary["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL (streaming replicas).")
    for number, url in enumerate(DATABASE_REPLICA_URLS, start=1):
        replica = env.db_url_config(url)
        if not replica["ENGINE"].endswith("postgresql"):
            raise ImproperlyConfigured(f"DATABASE_REPLICA_URL #{number} is not a PostgreSQL URL.")
        for key in ("ATOMIC_REQUESTS", "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS",
                    "DISABLE_SERVER_SIDE_CURSORS", "TIME_ZONE"):  # a replica behind PgBouncer needs the last too
            if key in primary:
                replica.setdefault(key, primary[key])
        replica["OPTIONS"] = {**primary.get("OPTIONS", {}), **replica.get("OPTIONS", {})}
        replica["TEST"] = {"MIRROR": "default"}
        databases[f"replica{number}"] = replica
    return ["config.replicas.ReplicaRouter"]


DATABASE_ROUTERS = add_replicas(DATABASES)

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
WAYBILL_CHARTJS_AVAILABLE = (BASE_DIR / "node_modules" / "chart.js" / "dist").is_dir()  # the dashboard's charts
if WAYBILL_CHARTJS_AVAILABLE:
    STATICFILES_DIRS.append(("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"))
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
        # Token first: an anonymous call then gets 401 with a WWW-Authenticate header, not 403. DRF's token
        # authentication, with the token's user kept in the cache (config/authentication.py): no query per request.
        "config.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.WaybillAutoSchema",  # documents every error answer
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    # The API reads JSON; the endpoints that take files (return photos, ticket attachments) add multipart
    # themselves. Form encodings carry no types ("true", "" for a missing field), so they are not offered.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.SafeJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PAGINATION_CLASS": "config.api.StandardPagination",
    "PAGE_SIZE": 50,
    # Per signed-in user and per anonymous client (its real address, config.ratelimit.client_ip), counted in the
    # cache: Redis in production, so every web process shares the count.
    "DEFAULT_THROTTLE_CLASSES": ["config.ratelimit.AnonThrottle", "config.ratelimit.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("WAYBILL_API_RATE_ANON", default="60/minute"),
        "user": env("WAYBILL_API_RATE_USER", default="1200/minute"),
        "carrier_events": env("WAYBILL_API_RATE_CARRIER_EVENTS", default="1200/minute"),  # per carrier address
        "inbound_email": env("WAYBILL_API_RATE_INBOUND_EMAIL", default="300/minute"),  # per mail relay
    },
}
# How long an API token's user is kept in the cache (config/authentication.py); saving or deleting the token or the
# user forgets it at once. 0: read them from the database on every request.
WAYBILL_TOKEN_CACHE_SECONDS = env.int("WAYBILL_TOKEN_CACHE_SECONDS", default=60)
SPECTACULAR_SETTINGS = {
    "TITLE": "Waybill API",
    "DESCRIPTION": "Orders, inventory and fulfilment for e-commerce back offices.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
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

# --- Clients and abuse (config/ratelimit.py) -------------------------------------------------------------------
# How many reverse proxies in front of the application append to X-Forwarded-For (a load balancer and nginx: 2).
# 0 = the application is reached directly and REMOTE_ADDR is the client; X-Forwarded-For is then ignored.
WAYBILL_TRUSTED_PROXY_COUNT = env.int("WAYBILL_TRUSTED_PROXY_COUNT", default=0)
# Sign-in (admin and portal): after AXES_FAILURE_LIMIT wrong passwords for one username from one client, that
# client may not sign in as that username for AXES_COOLOFF_TIME. Attempts and lockouts are listed in the admin.
AXES_FAILURE_LIMIT = env.int("WAYBILL_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("WAYBILL_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.ratelimit.client_ip"
AXES_LOCKOUT_CALLABLE = "config.ratelimit.login_lockout_response"
AXES_USERNAME_CALLABLE = "config.ratelimit.login_username"
AXES_VERBOSE = False  # no banner on every management command
# And whatever the usernames, at most this many failed sign-ins per client in the window (password spraying).
WAYBILL_LOGIN_CLIENT_LIMIT = env.int("WAYBILL_LOGIN_CLIENT_LIMIT", default=30)
WAYBILL_LOGIN_CLIENT_WINDOW_SECONDS = env.int("WAYBILL_LOGIN_CLIENT_WINDOW_SECONDS", default=15 * 60)
# Password reset links: at most this many per email address and per client in the window.
WAYBILL_PASSWORD_RESET_LIMIT = env.int("WAYBILL_PASSWORD_RESET_LIMIT", default=3)
WAYBILL_PASSWORD_RESET_WINDOW_SECONDS = env.int("WAYBILL_PASSWORD_RESET_WINDOW_SECONDS", default=60 * 60)

# --- Security headers -----------------------------------------------------------------------------------------
# Content-Security-Policy (django-csp 4): scripts and styles only from our own static files, or inline with the
# response's nonce (`{{ request.csp_nonce }}` / `{{ CSP_NONCE }}` in templates). No CDN, no eval, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Permissions-Policy (django-permissions-policy): the pages use none of the browser's powerful features.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in ("accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
                    "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment", "usb",
                    "screen-wake-lock", "xr-spatial-tracking")
}

# --- Audit history (django-simple-history, config/history.py) ----------------------------------------------------
# The history pages show who changed what; changing it back goes through the usual form (and its service).
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Business defaults -----------------------------------------------------------------------------------
WAYBILL_CURRENCY = env("WAYBILL_CURRENCY", default="EUR")  # the price list's currency: every order's
# Shipping charged to customers (staff may price a phone order's shipping by hand); free from an order value.
WAYBILL_SHIPPING_RATE = Decimal(env("WAYBILL_SHIPPING_RATE", default="0.00"))
_free_shipping_from = env("WAYBILL_FREE_SHIPPING_FROM", default="")
WAYBILL_FREE_SHIPPING_FROM = Decimal(_free_shipping_from) if _free_shipping_from else None
# An unpaid order (placed or confirmed, not yet being picked) is cancelled after this long and its stock
# released; 0 keeps unpaid orders forever.
WAYBILL_UNPAID_ORDER_EXPIRY_HOURS = env.int("WAYBILL_UNPAID_ORDER_EXPIRY_HOURS", default=72)
WAYBILL_BACKORDER_DAYS = env.int("WAYBILL_BACKORDER_DAYS", default=14)  # a backorder's expected wait by default
WAYBILL_SHOP_NAME = env("WAYBILL_SHOP_NAME", default="Waybill demo shop")  # on invoices
WAYBILL_SHOP_ADDRESS = env("WAYBILL_SHOP_ADDRESS", default="")  # the seller's address on invoices
WAYBILL_SHOP_VAT_ID = env("WAYBILL_SHOP_VAT_ID", default="")
WAYBILL_INVOICE_PREFIX = env("WAYBILL_INVOICE_PREFIX", default="INV-")
# Prices include tax at this rate; invoices show the tax they contain (0: no tax line).
WAYBILL_TAX_RATE_PERCENT = Decimal(env("WAYBILL_TAX_RATE_PERCENT", default="19"))
# The analytics dashboard (analytics/panels): parcels should leave within this many hours of the order; stock
# cover aims at this service level (z of the normal distribution: 1.65 ≈ 95 %) with a supplier order every
# REVIEW_DAYS; stock unsold for DEAD_STOCK_DAYS is dead stock.
WAYBILL_ANALYTICS_SHIP_WITHIN_HOURS = env.int("WAYBILL_ANALYTICS_SHIP_WITHIN_HOURS", default=48)
WAYBILL_ANALYTICS_SERVICE_LEVEL_Z = Decimal(env("WAYBILL_ANALYTICS_SERVICE_LEVEL_Z", default="1.65"))
WAYBILL_ANALYTICS_REVIEW_DAYS = env.int("WAYBILL_ANALYTICS_REVIEW_DAYS", default=14)
WAYBILL_ANALYTICS_DEAD_STOCK_DAYS = env.int("WAYBILL_ANALYTICS_DEAD_STOCK_DAYS", default=90)
WAYBILL_ANALYTICS_WORK_MEM = env("WAYBILL_ANALYTICS_WORK_MEM", default="64MB")  # per query of a dashboard page
# Imports (django-import-export): a preview shows every row's errors first; the import is one transaction.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = True  # the ledger and the timelines say what changed
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
WAYBILL_IDEMPOTENCY_TTL_HOURS = env.int("WAYBILL_IDEMPOTENCY_TTL_HOURS", default=24)

# --- Retention (notifications/retention.py, orders/retention.py): beat purges old rows in bounded batches -------
WAYBILL_RETENTION_OUTBOX_DAYS = env.int("WAYBILL_RETENTION_OUTBOX_DAYS", default=365)  # the customer's Emails page
WAYBILL_RETENTION_WEBHOOK_ATTEMPT_DAYS = env.int("WAYBILL_RETENTION_WEBHOOK_ATTEMPT_DAYS", default=30)
WAYBILL_RETENTION_LOGIN_LOG_DAYS = env.int("WAYBILL_RETENTION_LOGIN_LOG_DAYS", default=90)  # axes' sign-in log
WAYBILL_RETENTION_BATCH_SIZE = env.int("WAYBILL_RETENTION_BATCH_SIZE", default=1000)  # rows per transaction
WAYBILL_RETENTION_MAX_BATCHES = env.int("WAYBILL_RETENTION_MAX_BATCHES", default=100)  # per run; the rest waits

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
# No task runs for ever: SoftTimeLimitExceeded is raised in the task after the soft limit (it retries or gives up
# cleanly), the worker process is replaced after the hard one. Both outlast an SMTP or webhook timeout.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("WAYBILL_TASK_SOFT_TIME_LIMIT_SECONDS", default=120)
CELERY_TASK_TIME_LIMIT = env.int("WAYBILL_TASK_TIME_LIMIT_SECONDS", default=180)
# Publishing must fail fast when Redis is down (the outbox sweep sends the backlog later); the visibility timeout
# outlasts the longest retry countdown (WAYBILL_NOTIFY_RETRY_MAX_SECONDS) so a delayed retry is never redelivered.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60, "socket_connect_timeout": 1, "socket_timeout": 5}
CELERY_IMPORTS = ["notifications.retention"]  # tasks outside the apps' tasks.py modules
# Queues by kind of work, so that each scales and fails on its own (docs/scaling.md): a worker started without
# -Q consumes every one of them (the Procfile's default); `celery -A config worker -Q webhooks` takes one.
#   email         customers' emails: outbox events for customers, and their sends and retries
#   staff_alerts  alerts to staff (late parcels, SLA breaches, low stock): the same tasks, for staff events
#   webhooks      deliveries to webhook endpoints, and the fan-out of events that only webhooks receive
#   bulk          exports, bulk jobs (shipments for many orders), analytics rollups (analytics.tasks.*)
#   celery        everything else: beat's scans and sweeps (the time-in-state rules too), retention
# The notification tasks serve customers, staff and webhooks alike, so whoever publishes one names its queue from
# the event's audience (notifications/queues.py); the routes below are the rest.
CELERY_TASK_DEFAULT_QUEUE = "celery"
WAYBILL_CELERY_QUEUES = ["email", "staff_alerts", "webhooks", "bulk", CELERY_TASK_DEFAULT_QUEUE]
CELERY_TASK_QUEUES = [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in WAYBILL_CELERY_QUEUES]
CELERY_TASK_ROUTES = {
    "notifications.tasks.outbox_process_task": {"queue": "email"},
    "notifications.tasks.notification_send_task": {"queue": "email"},
    "notifications.webhooks.webhook_deliver_task": {"queue": "webhooks"},
    "orders.tasks.export_job_run_task": {"queue": "bulk"},
    # a scan that raises staff alerts, like beat's others: on the default queue, never behind a long export
    "analytics.tasks.time_in_state_evaluate_task": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "analytics.tasks.*": {"queue": "bulk"},  # the dashboard's rollups
}
# A task in the middle of an SMTP conversation when Redis goes away finishes it (cancelling it would leave its
# email uncertain); Celery 6 changes this default, so it is said here.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE: dict = {
    "orders-expire-unpaid": {"task": "orders.tasks.order_expire_unpaid_task", "schedule": 10 * 60},
    "orders-export-jobs-sweep": {"task": "orders.tasks.export_jobs_sweep_task", "schedule": 60},
    # sent outbox rows, webhook attempts and expired idempotency keys (notifications/retention.py)
    "retention-purge": {"task": "notifications.retention.retention_purge_task", "schedule": 60 * 60},
    # every active time-in-state rule (analytics/time_in_state): labels never scanned, returns not resolved, SLA
    # breaches, unfulfilled orders... one staff alert per breach
    "analytics-time-in-state": {
        "task": "analytics.tasks.time_in_state_evaluate_task",
        "schedule": env.float("WAYBILL_TIME_IN_STATE_EVERY_SECONDS", default=5 * 60),
    },
    "support-sla-alerts": {"task": "support.tasks.sla_alert_task", "schedule": 5 * 60},  # warnings
    "support-close-solved": {"task": "support.tasks.ticket_close_solved_task", "schedule": 60 * 60},
    # the dashboard's rollup tables: today's orders and the orders changed since (analytics/rollups.py)
    "analytics-rollups-refresh": {"task": "analytics.tasks.rollups_refresh_task",
                                  "schedule": env.int("WAYBILL_ANALYTICS_REFRESH_SECONDS", default=5 * 60)},
    "notifications-outbox-sweep": {
        "task": "notifications.tasks.outbox_sweep_task",
        "schedule": env.float("WAYBILL_OUTBOX_SWEEP_SECONDS", default=30.0),
    },
}

# --- Email -----------------------------------------------------------------------------------------------
# EMAIL_URL's query options become Django's settings, so they reach the backend: smtp+tls://user:pw@host:587
# ?timeout=10&ssl_certfile=/path&ssl_keyfile=/path. An option Django has no setting for stops the start.
EMAIL_URL_OPTIONS = {"TIMEOUT": "EMAIL_TIMEOUT", "SSL_CERTFILE": "EMAIL_SSL_CERTFILE",
                     "SSL_KEYFILE": "EMAIL_SSL_KEYFILE"}


def email_settings(url: str) -> dict:
    config = env.email_url_config(url)
    options = config.pop("OPTIONS", {})
    unknown = sorted(set(options) - set(EMAIL_URL_OPTIONS))
    if unknown:
        raise ImproperlyConfigured(f"EMAIL_URL has options Django does not know: {', '.join(unknown).lower()} "
                                   f"(known: {', '.join(EMAIL_URL_OPTIONS).lower()})")
    for name, value in options.items():
        config[EMAIL_URL_OPTIONS[name]] = float(value) if name == "TIMEOUT" else value
    return config


# A mail server that accepts the connection and then hangs must not hold a worker: seconds per SMTP operation.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
vars().update(email_settings(env("EMAIL_URL", default="consolemail://")))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Waybill <orders@waybill.localhost>")
# Seconds per SMTP operation (connect, each command): a mail server that hangs never holds a worker for long.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)

# --- Shipping (shipping/) --------------------------------------------------------------------------------
# the admin's "no scan" filter, and the maximum age the default time-in-state rule "Label created but never scanned"
# starts with (the rule, in the admin, decides who is alerted when)
WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS = env.int("WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS", default=48)
# How far a carrier's clock may be behind ours: a scan stamped this much before the label still applies.
WAYBILL_CARRIER_CLOCK_SKEW_SECONDS = env.int("WAYBILL_CARRIER_CLOCK_SKEW_SECONDS", default=300)
WAYBILL_TRACKING_RATE_LIMIT = env.int("WAYBILL_TRACKING_RATE_LIMIT", default=30)
WAYBILL_TRACKING_RATE_WINDOW_SECONDS = env.int("WAYBILL_TRACKING_RATE_WINDOW_SECONDS", default=60)

# --- Returns and claims (returns/) --------------------------------------------------------------------------
WAYBILL_RETURN_WINDOW_DAYS = env.int("WAYBILL_RETURN_WINDOW_DAYS", default=30)  # products may set their own
WAYBILL_DEFECT_CLAIM_DAYS = env.int("WAYBILL_DEFECT_CLAIM_DAYS", default=730)  # defects: the legal guarantee
WAYBILL_ADVANCE_REPLACEMENT_DAYS = env.int("WAYBILL_ADVANCE_REPLACEMENT_DAYS", default=14)
# the maximum age the default time-in-state rule "Return received but not resolved" starts with (then: the admin)
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

# --- Time-in-state rules (analytics/time_in_state/) -----------------------------------------------------------
# Each run opens at most BATCH_SIZE × MAX_BATCHES breaches per rule (one transaction per batch); the rest wait for the
# next run, every WAYBILL_TIME_IN_STATE_EVERY_SECONDS (the beat schedule above).
WAYBILL_TIME_IN_STATE_BATCH_SIZE = env.int("WAYBILL_TIME_IN_STATE_BATCH_SIZE", default=200)
WAYBILL_TIME_IN_STATE_MAX_BATCHES = env.int("WAYBILL_TIME_IN_STATE_MAX_BATCHES", default=10)

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
WAYBILL_HEALTH_OUTBOX_MAX_AGE_SECONDS = env.int("WAYBILL_HEALTH_OUTBOX_MAX_AGE_SECONDS", default=15 * 60)  # /health/
WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS = env.int("WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS", default=60)
# The outbox relay (`manage.py outbox_relay`, the Procfiles' relay): one process hands new outbox rows to the
# workers in batches, so a transaction that emits an event does no broker work at all (a Celery publish after each
# commit was a quarter of an order's CPU). Off, each transaction publishes its own rows after commit: the demo
# (tasks run in-process) and the tests. Without a running relay the sweep sends the rows (WAYBILL_OUTBOX_SWEEP_SECONDS).
WAYBILL_OUTBOX_RELAY = env.bool("WAYBILL_OUTBOX_RELAY", default=not CELERY_TASK_ALWAYS_EAGER)
WAYBILL_OUTBOX_RELAY_POLL_SECONDS = env.float("WAYBILL_OUTBOX_RELAY_POLL_SECONDS", default=0.1)  # when idle
WAYBILL_OUTBOX_RELAY_BATCH = env.int("WAYBILL_OUTBOX_RELAY_BATCH", default=20)  # outbox rows per task
WAYBILL_OUTBOX_RELAY_LIMIT = env.int("WAYBILL_OUTBOX_RELAY_LIMIT", default=500)  # rows claimed at a time
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
