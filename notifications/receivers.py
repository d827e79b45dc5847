"""Signal receivers: the foundation's events become outbox rows in the same transaction."""

from __future__ import annotations

from orders.models import OrderEvent

from .services import notification_emit

TRANSITION_EVENTS = {
    "place": "order.placed",
    "confirm": "order.confirmed",
    "start_processing": "order.processing",
    "pack": "order.packed",
    "ship_partially": "order.partially_shipped",
    "ship": "order.shipped",
    "deliver": "order.delivered",
    "return_to_sender": "order.returned_to_sender",
    "reship": "order.reshipped",
    "cancel": "order.cancelled",
    "hold": "order.on_hold",
    "release": "order.released",
}


def order_event_name(event: OrderEvent) -> str | None:
    """The notification event for a timeline entry; None for entries nobody outside should hear about."""
    if event.internal:
        return None
    if event.kind == OrderEvent.Kind.STATUS:
        return TRANSITION_EVENTS.get(event.transition)
    if event.kind == OrderEvent.Kind.NOTE:
        data = event.data or {}
        if "address_changed" in data:
            return "order.address_changed"
        if "order_edited" in data:
            return "order.edited"
        return "order.backorder_allocated" if "backorder_allocated" in data else "order.note_added"
    if event.kind == OrderEvent.Kind.PAYMENT:
        return "order.payment_updated"
    return None  # other apps' kinds (parcels, returns...) emit their own notifications with their details


def order_payload(order, event: OrderEvent) -> dict:
    return {
        "order_number": order.number,
        "status": order.status,
        "status_display": order.get_status_display(),
        "previous_status": event.from_status,
        "transition": event.transition,
        "kind": event.kind,
        "reason": event.text,
        "data": event.data,
        "payment_status": order.payment_status,
        "customer_name": order.ship_name,
        "email": order.email,
        "total": str(order.total),
        "currency": order.currency,
        "lines": [
            {"sku": line.sku, "name": line.name, "quantity": line.quantity, "shipped_quantity": line.shipped_quantity,
             "backordered_quantity": line.backordered_quantity,
             "backorder_expected_on": line.backorder_expected_on.isoformat() if line.backorder_expected_on else ""}
            for line in order.lines.all()
        ],
        "shipping_address": {
            "name": order.ship_name, "line1": order.ship_line1, "line2": order.ship_line2, "city": order.ship_city,
            "postal_code": order.ship_postal_code, "region": order.ship_region, "country": str(order.ship_country),
        },
        "occurred_at": event.created_at.isoformat(),
    }


# A replacement order (sent after a claim) is announced by the return's own emails: its placement and
# confirmation go to webhooks only, so the customer is not thanked for an order they did not place.
REPLACEMENT_QUIET = {"order.placed": "order.replacement_placed", "order.confirmed": "order.replacement_confirmed"}


def on_order_event_recorded(sender, *, order, event, **kwargs):
    name = order_event_name(event)
    if name in REPLACEMENT_QUIET and order.replaces_id:
        name = REPLACEMENT_QUIET[name]
    if name is None:
        return
    payload = order_payload(order, event)
    notification_emit(event=name, subject=order, payload=payload, idempotency_key=f"order-event:{event.pk}")
    if name == "order.address_changed":  # staff make sure nothing leaves for the old address
        from django.urls import reverse

        notification_emit(event="order.address_changed_alert", subject=order,
                          idempotency_key=f"order-event:{event.pk}:staff",
                          payload={**payload, "title": f"New delivery address for {order.number}",
                                   "message": event.text, "link": reverse("admin:orders_order_change",
                                                                          args=[order.pk])})


def on_low_stock_alerts_raised(sender, *, alerts, **kwargs):
    for alert in alerts:
        product = alert.product
        notification_emit(
            event="stock.low", subject=product,
            payload={"product_sku": product.sku, "product_name": product.name, "available": alert.available,
                     "threshold": alert.threshold, "alert_id": alert.pk,
                     "raised_at": alert.created_at.isoformat()},
            idempotency_key=f"stock.low:{alert.pk}",
        )
