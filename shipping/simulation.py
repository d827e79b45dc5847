"""Realistic carrier event streams for the demo: what each carrier would report next for a parcel."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

from django.utils import timezone

from .carriers import STATUS_MAPS, codes_for, sign
from .models import Shipment

S = Shipment.Status
R = Shipment.ExceptionReason

CITIES = ["Leeds", "Manchester", "Birmingham", "Bristol", "Glasgow", "Cardiff", "Rotterdam", "Lyon", "Hamburg",
          "Milan", "Antwerp", "Dublin"]
DESCRIPTIONS = {
    S.IN_TRANSIT: ["Picked up by the courier", "Arrived at the sorting hub", "Departed the sorting hub"],
    S.OUT_FOR_DELIVERY: ["Out for delivery"],
    S.DELIVERED: ["Delivered"],
    R.FAILED_ATTEMPT: ["Delivery attempted: nobody was home"],
    R.DAMAGED: ["Parcel damaged in transit"],
    R.LOST: ["Parcel could not be located"],
    S.RETURNED: ["Returned to sender"],
}


@dataclass
class PlannedEvent:
    shipment: Shipment
    status: str
    reason: str
    body: dict


def _next(shipment: Shipment, rng: random.Random, exception_rate: float) -> tuple[str, str] | None:
    status = shipment.status
    scans = shipment.carrier_scans or 0
    if status == S.LABEL_CREATED:
        return S.IN_TRANSIT, ""
    if status == S.IN_TRANSIT:
        if scans < 2:
            return S.IN_TRANSIT, ""
        if rng.random() < exception_rate / 3:
            return S.EXCEPTION, rng.choice([R.DAMAGED, R.LOST])
        return S.OUT_FOR_DELIVERY, ""
    if status == S.OUT_FOR_DELIVERY:
        return (S.EXCEPTION, R.FAILED_ATTEMPT) if rng.random() < exception_rate else (S.DELIVERED, "")
    if status == S.EXCEPTION:
        if shipment.exception_reason == R.LOST or scans > 6:
            return S.RETURNED, ""
        return S.OUT_FOR_DELIVERY, ""
    return None


def _city(shipment: Shipment, status: str, reason: str) -> str:
    """Pick-up near the warehouse, a hub on the way, then the destination city (city level only)."""
    at_door = status in (S.OUT_FOR_DELIVERY, S.DELIVERED) or reason == R.FAILED_ATTEMPT
    if at_door and shipment.order.ship_city:
        return shipment.order.ship_city[:120]
    if shipment.status == S.LABEL_CREATED:
        return CITIES[shipment.warehouse_id % len(CITIES)]
    return CITIES[(shipment.pk + (shipment.carrier_scans or 0)) % len(CITIES)]


def plan(*, limit: int, rng: random.Random, exception_rate: float) -> list[PlannedEvent]:
    from django.db.models import Count, Q

    shipments = (
        Shipment.objects.filter(status__in=[S.LABEL_CREATED, *Shipment.MOVING], carrier__code__in=list(STATUS_MAPS),
                                carrier__active=True)
        .exclude(tracking_number="").select_related("carrier", "order")
        .annotate(carrier_scans=Count("events", filter=Q(events__source="carrier")))
        .order_by("pk")[:limit]
    )
    planned = []
    for shipment in shipments:
        step = _next(shipment, rng, exception_rate)
        if step is None:
            continue
        status, reason = step
        codes = codes_for(shipment.carrier.code, status, reason)
        if not codes:
            continue
        if status == S.IN_TRANSIT:
            # each table lists the pick-up scan first, then the hub scans
            codes = codes[:1] if shipment.status == S.LABEL_CREATED else (codes[1:] or codes)
        body = {
            "tracking_number": shipment.tracking_number,
            "event_id": uuid.uuid4().hex,
            "status_code": rng.choice(codes),
            "location": _city(shipment, status, reason),
            "occurred_at": timezone.now().isoformat(),
            "description": (DESCRIPTIONS[S.IN_TRANSIT][0] if shipment.status == S.LABEL_CREATED
                            else rng.choice(DESCRIPTIONS[reason or status][-2:])),
        }
        planned.append(PlannedEvent(shipment=shipment, status=status, reason=reason, body=body))
    return planned


def post(*, base_url: str, event: PlannedEvent, timeout: float = 10.0) -> int:
    """Send one event the way the carrier would: JSON, signed with its secret. Returns the HTTP status."""
    carrier = event.shipment.carrier
    data = json.dumps(event.body).encode()
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/api/carriers/{carrier.code}/events/", data=data, method="POST",
        headers={"Content-Type": "application/json", "X-Waybill-Signature": sign(carrier.webhook_secret, data)},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL given by the operator
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
