"""Production: every secret from the environment, no insecure defaults. `manage.py check --deploy` is clean."""

from .base import *  # noqa: F403
from .base import DATABASE_CONNECT_TIMEOUT, DATABASE_POOLER, add_replicas, database_for_pooler, email_settings, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # an unreachable database: 503 within seconds
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
DATABASES["default"] = database_for_pooler(DATABASES["default"], DATABASE_POOLER)  # behind PgBouncer: docs/scaling.md
DATABASE_ROUTERS = add_replicas(DATABASES)  # DATABASE_REPLICA_URL (config/replicas.py); after the pooler's settings
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind a TLS-terminating proxy (nginx, a load balancer) the application itself speaks plain HTTP and learns
# that the browser used HTTPS from the proxy's X-Forwarded-Proto header. WAYBILL_BEHIND_TLS_PROXY=true (the
# default) trusts that header: the proxy must set it on every request, overwriting any the client sent. Set it
# to false when nothing in front of the application sets the header (gunicorn serving TLS itself): a client could
# otherwise claim HTTPS.
WAYBILL_BEHIND_TLS_PROXY = env.bool("WAYBILL_BEHIND_TLS_PROXY", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if WAYBILL_BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/"]  # a load balancer's probe over plain HTTP gets the answer, not a redirect
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REDIS_URL = env("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
# Rate limits, login lockouts and API throttles are counted in Redis, shared by every web process.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": env("CACHE_URL", default=REDIS_URL)}}

# Email goes to a real server (no console default), and the links in it to the real site.
vars().update(email_settings(env("EMAIL_URL")))
WAYBILL_SITE_URL = env("WAYBILL_SITE_URL")
