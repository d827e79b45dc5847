"""Middleware of our own: requests refused before any view or query sees them, and pages with a person's own
data that no browser or shared cache keeps."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.cache import patch_cache_control
from django.views import defaults

from .text import CONTROL_CHARACTERS_MESSAGE, has_control_characters

PRIVATE_NAMESPACES = {"portal", "support", "admin"}
PRIVATE_URL_NAMES = {"login", "logout", "password_change", "password_change_done", "password_reset",
                     "password_reset_done", "password_reset_confirm", "password_reset_complete"}


class RefuseControlCharactersMiddleware:
    """A URL path segment holding control characters (config.text) is a 400, and so is an API query parameter:
    JSON `{code, message, extra}` naming it under /api/, the 400 page elsewhere. Without this,
    `/api/orders/WB%00X/` or `/track/PN%00/` reached PostgreSQL, which refuses NUL with an error that became a
    500. The other inputs get the same rule where they are read: API bodies in the API's parsers
    (config.parsers), form fields in every Django form (config.apps), free text in the services (clean_text);
    pages' query strings go through their forms, which show the error beside the field."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        fields: dict[str, list[str]] = {}
        if has_control_characters(request.path, single_line=True):
            fields["path"] = [CONTROL_CHARACTERS_MESSAGE]
        api = request.path.startswith("/api/")
        if api:
            for key, values in request.GET.lists():
                if has_control_characters(key, single_line=True):
                    fields["query"] = ["Remove the control characters from the parameter names."]
                elif any(has_control_characters(value, single_line=True) for value in values):
                    fields[key] = [CONTROL_CHARACTERS_MESSAGE]
        if not fields:
            return self.get_response(request)
        message = f"Control characters are not allowed in the URL (in: {', '.join(sorted(fields))})."
        if api:
            return JsonResponse({"code": "invalid", "message": message, "extra": {"fields": fields}}, status=400)
        return defaults.bad_request(request, ValueError(message))


class PrivatePagesMiddleware:
    """`Cache-Control: private, no-store` on the portal, the support workspace, the admin and the sign-in pages
    (the admin's own never_cache already says it; this keeps every page of those areas under the same rule)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and (set(match.namespaces) & PRIVATE_NAMESPACES or match.url_name in PRIVATE_URL_NAMES):
            patch_cache_control(response, private=True, no_store=True)
        return response
