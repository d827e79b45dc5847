from django.conf import settings
from django.templatetags.static import static


def htmx(request) -> dict:
    """The htmx script's address when `npm ci` has put it in place (pages work without it)."""
    return {"htmx_script": static("vendor/htmx/htmx.min.js") if settings.WAYBILL_HTMX_AVAILABLE else ""}
