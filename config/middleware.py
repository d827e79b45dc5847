"""Pages with a person's own data are never kept by a browser or a shared cache."""

from django.utils.cache import patch_cache_control

PRIVATE_NAMESPACES = {"portal", "support", "admin"}
PRIVATE_URL_NAMES = {"login", "logout", "password_change", "password_change_done", "password_reset",
                     "password_reset_done", "password_reset_confirm", "password_reset_complete"}


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
