"""One error type for the domain, rendered in one place.

Services raise `DomainError` subclasses. The API renders them as `{"code", "message", "extra"}` with the
error's `http_status`; portal views and admin actions show `message` to the person.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    code = "domain_error"
    http_status = 409

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class InvalidInput(DomainError):
    """Input a service refuses although it passed the serializer (for example an unknown SKU)."""

    code = "invalid"
    http_status = 400


class Forbidden(DomainError):
    code = "permission_denied"
    http_status = 403


class Unprocessable(DomainError):
    code = "unprocessable"
    http_status = 422


def _body(code: str, message: str, extra: dict | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


def _suspicious(exc: SuspiciousOperation) -> tuple[dict[str, Any], int]:
    """A body over Django's limits (DATA_UPLOAD_MAX_MEMORY_SIZE, ..._NUMBER_FIELDS, ..._NUMBER_FILES) or another
    request Django refuses as suspicious: the same {code, message, extra} as every other error."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _body("request_too_large", f"The request body is too large (at most {limit} bytes).",
                     {"max_bytes": limit}), 413
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return _body("too_many_fields", f"The request has too many fields (at most {limit}).",
                     {"max_fields": limit}), 400
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return _body("too_many_files", f"The request has too many files (at most {limit}).",
                     {"max_files": limit}), 400
    return _body("bad_request", "The request was refused as malformed."), 400


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, SuspiciousOperation):
        body, code = _suspicious(exc)
        return Response(body, status=code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(_body("invalid", "The request has invalid fields.", {"fields": fields}), status=400)
    if isinstance(exc, Http404):
        return Response(_body("not_found", str(exc) or "Not found."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_default_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        names = ", ".join(sorted(detail))
        response.data = _body("invalid", f"Invalid input in: {names}.", {"fields": detail})
    elif isinstance(exc, drf_exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = _body(code, str(exc.detail))
    return response


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def server_error(request, *args, **kwargs):
    """handler500: JSON under /api/ so clients never parse an HTML error page; Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views import defaults

    if _wants_json(request):
        body = _body("server_error", "Something went wrong on our side. The error was logged; please retry.")
        return JsonResponse(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request, *args, **kwargs)


def page_not_found(request, exception, *args, **kwargs):
    """handler404: JSON under /api/ (unknown endpoint), Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views import defaults

    if _wants_json(request):
        return JsonResponse(_body("not_found", f"No API endpoint at {request.path}."), status=404)
    return defaults.page_not_found(request, exception, *args, **kwargs)


def bad_request(request, exception, *args, **kwargs):
    """handler400: a request Django refused before or outside a view (a body over the size limits, a bad
    Host...): JSON under /api/, Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views import defaults

    if _wants_json(request):
        if isinstance(exception, SuspiciousOperation):
            body, code = _suspicious(exception)
        else:
            body, code = _body("bad_request", "The request was refused as malformed."), 400
        return JsonResponse(body, status=code)
    return defaults.bad_request(request, exception, *args, **kwargs)


def permission_denied(request, exception, *args, **kwargs):
    """handler403: JSON under /api/, Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views import defaults

    if _wants_json(request):
        return JsonResponse(_body("permission_denied", "You do not have permission to do this."), status=403)
    return defaults.permission_denied(request, exception, *args, **kwargs)
