"""Who the client is, and how many times it may knock.

Every rate limit keys on `client_ip(request)`: the login lockout (django-axes, AXES_CLIENT_IP_CALLABLE), the API
throttles (`get_ident`), the tracking page, the guest order lookup and password reset. Behind
WAYBILL_TRUSTED_PROXY_COUNT proxies the client is the address the outermost trusted proxy saw: each proxy appends
the address it was reached from to X-Forwarded-For, so it is that header's Nth entry from the right. Entries
further left were written by the client and are never trusted. With 0 proxies (the default) the header is ignored
and REMOTE_ADDR is the client.
"""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.shortcuts import render
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


def _valid_ip(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The address of the client behind exactly WAYBILL_TRUSTED_PROXY_COUNT trusted proxies (None for a request
    that came from no address, as a test's or a management command's)."""
    remote = _valid_ip(request.META.get("REMOTE_ADDR") or "")
    trusted = settings.WAYBILL_TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < trusted:  # the request did not come through all our proxies: only the peer is known
        return remote
    return _valid_ip(hops[-trusted]) or remote


def _window_key(bucket: str, window: int) -> str:
    return f"ratelimit:{bucket}:{int(time.time() // window)}"


def limit_reached(bucket: str, *, limit: int, window: int) -> bool:
    """True when `bucket` already has `limit` hits in the current window (counts nothing)."""
    return (cache.get(_window_key(bucket, window)) or 0) >= limit


def limit_exceeded(bucket: str, *, limit: int, window: int) -> bool:
    """Count one hit on `bucket` in a fixed window of `window` seconds (in the shared cache: Redis in production);
    True once more than `limit` hits fell in the current window."""
    key = _window_key(bucket, window)
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        count = 1
    return count > limit


# --- the API: DRF throttles keyed by the real client ----------------------------------------------------------


class _ClientIdentMixin:
    def get_ident(self, request):
        return client_ip(request)

    def get_rate(self):
        # Read the rates at request time, not at import, so settings (and tests) can change them.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}") from exc


class AnonThrottle(_ClientIdentMixin, AnonRateThrottle):
    """Anonymous calls, per client address (scope `anon`)."""


class UserThrottle(_ClientIdentMixin, UserRateThrottle):
    """Signed-in calls, per user (scope `user`); anonymous ones fall back to the client address."""


class ClientScopeThrottle(_ClientIdentMixin, SimpleRateThrottle):
    """One named scope per client address, for endpoints whose callers are machines (carriers, the mail relay)."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class CarrierEventThrottle(ClientScopeThrottle):
    scope = "carrier_events"


class InboundEmailThrottle(ClientScopeThrottle):
    scope = "inbound_email"


# --- sign-in lockout (django-axes) ----------------------------------------------------------------------------


def login_rate_limited(view):
    """Wrap a sign-in view: after WAYBILL_LOGIN_CLIENT_LIMIT failed sign-ins from one client in
    WAYBILL_LOGIN_CLIENT_WINDOW_SECONDS, whatever the usernames, that client is paused (django-axes counts failures
    per username and client; this stops one client from trying a few passwords on every account). Successful
    sign-ins are not counted: an office behind one address signs in as usual."""
    from functools import wraps

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        bucket = f"login:ip:{client_ip(request)}"
        limit, window = settings.WAYBILL_LOGIN_CLIENT_LIMIT, settings.WAYBILL_LOGIN_CLIENT_WINDOW_SECONDS
        if limit_reached(bucket, limit=limit, window=window):
            return login_lockout_response(request, retry_after=window)
        response = view(request, *args, **kwargs)
        if response.status_code == 200:  # the form again: the password was wrong
            limit_exceeded(bucket, limit=limit, window=window)
        return response

    return wrapper


def login_lockout_response(request, original_response=None, credentials=None, *args, retry_after: int | None = None,
                           **kwargs):
    """AXES_LOCKOUT_CALLABLE: 429 with the same message in the look of where the person tried to sign in: JSON
    {code, message, extra} under /api/, the admin's page under /admin/, the portal's page elsewhere."""
    seconds = int(retry_after if retry_after is not None else settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, -(-seconds // 60))
    message = (f"Too many failed sign-in attempts. For your safety, signing in from here is paused for "
               f"{minutes} minute{'s' if minutes != 1 else ''}. You can reset your password meanwhile.")
    retry_after = str(seconds)
    if request.path.startswith("/api/"):
        response = JsonResponse({"code": "login_locked_out", "message": message,
                                 "extra": {"retry_after_seconds": int(retry_after)}}, status=429)
    elif request.path.startswith("/admin/"):
        from django.contrib import admin

        response = render(request, "admin/login_locked_out.html",
                          {**admin.site.each_context(request), "message": message, "title": "Signing in paused"},
                          status=429)
    else:
        response = render(request, "registration/login_locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = retry_after
    return response


def login_username(request, credentials=None) -> str:
    """AXES_USERNAME_CALLABLE: "Alice" and "alice " are the same person to count failures for. Cut to what
    django-axes stores (255 characters): a longer one is no account of ours and must not make a 500."""
    source = credentials or getattr(request, "data", request.POST)
    value = source.get("username")
    return str(value or "").strip().lower()[:255]
