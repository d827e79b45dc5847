"""One error type for the domain, rendered in one place.

Services raise `DomainError` subclasses. The API renders them as `{"code", "message", "extra"}` with the
error's `http_status`; portal views and admin actions show `message` to the person.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
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


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
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
