"""The database out of reach answers 503 with Retry-After, never a 500: clients retry, nothing half-written.

An OperationalError or InterfaceError that reaches a view (PostgreSQL down, a connection severed mid-request, a
connect that outlasts DATABASES OPTIONS connect_timeout) becomes

    503  {"code": "database_unavailable", "message": ..., "extra": {"retry_after": 5}}   Retry-After: 5

under /api/, and a short page elsewhere. Every service runs in one transaction, so a request that failed this way
wrote nothing; Django drops the broken connection when the request ends and the next request connects afresh,
so the service recovers by itself once the database is back. Installed as DatabaseUnavailableMiddleware (its
process_exception sees what DRF's exception handler passes on) in settings.MIDDLEWARE.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MESSAGE = "Our database cannot be reached just now. Nothing was changed; please retry in a few seconds."


def is_database_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse({"code": "database_unavailable", "message": MESSAGE,
                                 "extra": {"retry_after": RETRY_AFTER_SECONDS}}, status=503)
    else:
        response = HttpResponse(f"<!doctype html><title>Back in a moment</title><h1>Back in a moment</h1>"
                                f"<p>{MESSAGE}</p>", status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_database_unavailable(exception):
            return None
        logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response(request)
