"""An order's timeline as a customer reads it: sentences for people, built from the timeline entries' facts
(`data`), never from staff wording; nothing internal, no warehouse or staff names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.models import Order, OrderEvent

STATUS_WORDS = {
    "place": ("Order placed", "We have your order."),
    "confirm": ("Order confirmed", "We are preparing it."),
    "start_processing": ("Being prepared", "Our warehouse is picking your items."),
    "pack": ("Packed", "Your items are packed."),
    "ship_partially": ("Part of your order is on its way", ""),
    "ship": ("On its way", "Everything has left our warehouse."),
    "deliver": ("Delivered", "Everything has arrived."),
    "return_to_sender": ("Your parcel came back to us", ""),
    "reship": ("Sent again", "We are sending your order again."),
    "cancel": ("Cancelled", ""),
    "hold": ("Delayed", ""),
    "release": ("Back on track", "Your order is moving again."),
}
PARCELS_SAY = {"ship_partially", "ship", "deliver"}
PARCEL_WORDS = {
    "label_created": "Your parcel is ready to leave with {carrier}",
    "in_transit": "Your parcel left our warehouse with {carrier}",
    "out_for_delivery": "Out for delivery with {carrier}",
    "delivered": "Your parcel was delivered",
    "exception": "{carrier} reported a delivery problem",
    "returned": "Your parcel is on its way back to us",
    "cancelled": "A parcel was cancelled; its items stay reserved for you",
}


@dataclass(frozen=True)
class Step:
    at: datetime
    title: str
    text: str = ""
    kind: str = ""


def _parcel(event: OrderEvent, carriers: dict[str, str]) -> Step | None:
    data = event.data or {}
    if data.get("direction") == "return":
        return Step(event.created_at, "Your return parcel", event.text, "return")
    status = data.get("to_status", "")
    words = PARCEL_WORDS.get(status)
    if words is None:
        return None
    carrier = carriers.get(data.get("carrier", ""), "the carrier")
    tracking = data.get("tracking_number", "")
    text = f"Tracking number {tracking}." if tracking and status in ("label_created", "in_transit") else ""
    return Step(event.created_at, words.format(carrier=carrier), text, "parcel")


def customer_story(order: Order, events: list[OrderEvent], *, carriers: dict[str, str]) -> list[Step]:
    """The order's customer-visible timeline, newest first. `carriers` maps carrier codes to their names."""
    steps: list[Step] = []
    # when parcels tell the journey, the order's own "on its way" and "delivered" would say it twice
    parcels_tell = any(e.kind == "parcel_update" and not e.internal for e in events)
    for event in events:
        if event.internal:
            continue
        if event.kind == OrderEvent.Kind.STATUS and parcels_tell and event.transition in PARCELS_SAY:
            continue
        if event.kind == OrderEvent.Kind.STATUS:
            title, text = STATUS_WORDS.get(event.transition, (event.to_status_label, ""))
            if event.transition in ("cancel", "hold", "return_to_sender") and event.text:
                text = event.text
            steps.append(Step(event.created_at, title, text, "status"))
        elif event.kind == OrderEvent.Kind.PAYMENT:
            amount = (event.data or {}).get("refund_amount")
            if amount:
                steps.append(Step(event.created_at, f"Refund of {amount} {order.currency} issued",
                                  "It goes back the way you paid.", "refund"))
            elif (event.data or {}).get("payment_amount"):
                left = (event.data or {}).get("balance_due") or "0"
                steps.append(Step(event.created_at, f"Payment of {event.data['payment_amount']} {order.currency} "
                                  "received", f"{left} {order.currency} is left to pay." if left not in ("0", "0.00")
                                  else "", "payment"))
            elif event.to_status == Order.PaymentStatus.PAID:
                steps.append(Step(event.created_at, "Payment received", "", "payment"))
            elif event.to_status == Order.PaymentStatus.PARTIALLY_PAID:
                steps.append(Step(event.created_at, "Left to pay", event.text, "payment"))
        elif event.kind == OrderEvent.Kind.NOTE:
            steps.append(Step(event.created_at, "Message from customer service", event.text, "note"))
        elif event.kind == "parcel_update":
            step = _parcel(event, carriers)
            if step is not None:
                steps.append(step)
        elif event.kind == "return":
            steps.append(Step(event.created_at, "Your return", event.text, "return"))
        elif event.kind == "ticket":
            steps.append(Step(event.created_at, "You wrote to us", event.text, "ticket"))
        elif event.kind != "shipment_created":  # another app's kind: its customer title and its words
            steps.append(Step(event.created_at, event.customer_title, event.text, event.kind))
    return list(reversed(steps))
