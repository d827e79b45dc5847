"""The public tracking page: where a parcel is, without anything about who it is for or what is in it."""

from django.conf import settings
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.ratelimit import client_ip, limit_exceeded

from .errors import TrackingNumberNotFound
from .models import Shipment, ShipmentEvent
from .selectors import shipment_for_tracking


def tracking_rate_limited(request) -> bool:
    """A fixed-window counter per client address in the cache: True once the window's allowance is spent."""
    return limit_exceeded(f"track:{client_ip(request)}", limit=settings.WAYBILL_TRACKING_RATE_LIMIT,
                          window=settings.WAYBILL_TRACKING_RATE_WINDOW_SECONDS)


def _public_timeline(shipment: Shipment) -> list[dict]:
    rows = []
    for event in shipment.events.all():
        status = event.to_status or event.reported_status
        label = Shipment.Status(status).label if status in Shipment.Status.values else "Update"
        is_carrier = event.source == ShipmentEvent.Source.CARRIER
        rows.append({
            "at": event.occurred_at, "status": label, "location": event.location if is_carrier else "",
            "description": event.description if is_carrier else "",
        })
    return sorted(rows, key=lambda r: r["at"], reverse=True)


@never_cache
@require_GET
def track_search(request):
    number = (request.GET.get("number") or "").strip()
    if number:
        try:
            return redirect(reverse("shipping:track", args=[number]))
        except NoReverseMatch:  # a "/" cannot be in a URL segment, nor in any tracking number
            return render(request, "shipping/track_not_found.html", {"tracking_number": number[:64]}, status=404)
    return render(request, "shipping/track_search.html")


@never_cache
@require_GET
def track(request, tracking_number: str):
    if tracking_rate_limited(request):
        response = render(request, "shipping/track_rate_limited.html", status=429)
        response["Retry-After"] = str(settings.WAYBILL_TRACKING_RATE_WINDOW_SECONDS)
        return response
    try:
        shipment = shipment_for_tracking(tracking_number=tracking_number)
    except TrackingNumberNotFound:
        return render(request, "shipping/track_not_found.html", {"tracking_number": tracking_number[:64]},
                      status=404)
    return render(request, "shipping/track.html", {
        "tracking_number": shipment.tracking_number,
        "status": shipment.get_status_display(),
        "status_code": shipment.status,
        "delivered": shipment.status == Shipment.Status.DELIVERED,
        "delivered_at": shipment.delivered_at,
        "expected_delivery": shipment.expected_delivery,
        "carrier_name": shipment.carrier.name,
        "carrier_url": shipment.tracking_url,
        "timeline": _public_timeline(shipment),
    })
