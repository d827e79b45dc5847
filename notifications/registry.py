"""The catalogue of notification events: what each one is called, who hears about it and how it reads.

An app adds an event by registering it here (or from its own `AppConfig.ready()`) and writing its templates;
the outbox, the relay, the delivery tasks, retries, the admin and the webhooks need nothing new:

    from notifications.registry import register_event
    register_event("return.received", audience="customer", essential=False)

and then, inside the transaction that made the change:

    from notifications.services import notification_emit
    notification_emit(event="return.received", subject=rma, payload={...}, idempotency_key=f"rma:{rma.pk}:received")

Templates live in templates/notifications/ and are named after the event:
    <event>.subject.txt   one line, the email subject
    <event>.txt           the plain-text body
    <event>.html          the HTML body (extend "notifications/email_base.html")
They are rendered with the payload's keys at the top level, plus `event`, `recipient`, `customer` (a user or
None) and `site_url`.

Audiences
    "customer"  an email to the subject's contact address (and the customer's notification list in the portal)
    "staff"     an email to every address in settings.WAYBILL_STAFF_ALERT_EMAILS (shown in the admin too), or to
                the addresses the emitter names (notification_emit(staff_recipients=...): a time-in-state rule's)
    "none"      no email: the event only goes to webhook endpoints subscribed to it
Every event, whatever its audience, is offered to the webhook endpoints that subscribe to it.

Essential events (order confirmations, shipping updates, cancellations) are always sent; customers who turn off
non-essential email do not receive the others (the skipped notification is still logged).

`supersedes`: when an event and one it supersedes are emitted for the same subject in the same transaction, the
customer gets only the superseding one (for example shipment.shipped, which carries the tracking number, replaces
the order.shipped written when the shipping service moves the order to shipped). Webhooks still get both.

Payload contract (keys the templates read; extra keys are kept and passed on to webhooks)
    order.*            order_number, status, status_display, previous_status, transition, reason (the timeline
                       entry's text), data (its structured facts),
                       customer_name, email, total, currency, lines [{sku, name, quantity, shipped_quantity}],
                       shipping_address {name, line1, line2, city, postal_code, region, country}, occurred_at
    shipment.shipped / shipment.out_for_delivery / shipment.delivered / shipment.exception
                       order_number (required), carrier_name, tracking_number, tracking_url,
                       estimated_delivery (ISO date, optional), lines (optional, as above),
                       customer_name (optional), exception_reason and exception_display (shipment.exception)
    return.*           return_number, order_number, customer_name, status, status_display, resolution,
                       resolution_display, handling, lines [{sku, name, quantity, reason, reason_display, serial}],
                       link; approved: how, instructions, carrier_name, tracking_number, label_url, item_due_by,
                       replacement_order; rejected/cancelled: reason; resolved: replacement_order, amount_due;
                       replacement_shipped: replacement_order, replacement_serials, carrier_name, tracking_number,
                       tracking_url, estimated_delivery
    refund.issued      order_number, customer_name, amount, currency, items_amount, shipping_amount, reason,
                       return_number, refunded_total, total, link
    stock.low          product_sku, product_name, available, threshold, alert_id
    ticket.*           ticket_number, subject, customer_name, order_number, status, status_display, link, body
                       (the public message), reply_to (the ticket's signed reply address), agent_name (reply)
    Staff alerts (ticket.sla_breached, shipment.exception_alert...): title, message, link (optional), plus any keys.

Email headers: a payload's `reply_to` becomes the email's Reply-To; events in AUTO_REPLIES are marked
Auto-Submitted: auto-replied, so other robots do not answer them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UnknownEvent

CUSTOMER = "customer"
STAFF = "staff"
NONE = "none"
AUDIENCES = (CUSTOMER, STAFF, NONE)


@dataclass(frozen=True)
class EventSpec:
    name: str
    audience: str = CUSTOMER
    essential: bool = True
    template: str = ""
    supersedes: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def sends_email(self) -> bool:
        return self.audience in (CUSTOMER, STAFF)

    def template_names(self) -> dict[str, str]:
        stem = f"notifications/{self.template or self.name}"
        return {"subject": f"{stem}.subject.txt", "text": f"{stem}.txt", "html": f"{stem}.html"}


_events: dict[str, EventSpec] = {}


def register_event(name: str, *, audience: str = CUSTOMER, essential: bool = True, template: str = "",
                   supersedes: tuple[str, ...] | list[str] = (), description: str = "") -> EventSpec:
    """Declare an event. Registering the same name again replaces it (apps may refine the built-in ones).

    `template` is the template stem under templates/notifications/ (default: the event name); staff alerts
    without templates of their own may use template="staff_alert".
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    spec = EventSpec(name=name, audience=audience, essential=essential, template=template,
                     supersedes=tuple(supersedes), description=description)
    _events[name] = spec
    return spec


def get_event(name: str) -> EventSpec:
    try:
        return _events[name]
    except KeyError:
        raise UnknownEvent(f"No notification event called {name!r} is registered.", event=name) from None


def event_names() -> list[str]:
    return sorted(_events)


AUTO_REPLIES = {"ticket.opened"}  # acknowledgements a machine sends by itself (RFC 3834)


def superseding(name: str) -> list[str]:
    """Events that replace `name` for the customer when emitted in the same transaction."""
    return [spec.name for spec in _events.values() if name in spec.supersedes]


# --- Orders ----------------------------------------------------------------------------------------------
register_event("order.placed", description="The order was received.")
register_event("order.confirmed", description="The order was accepted and will be prepared.")
register_event("order.processing", audience=NONE, description="Picking started.")
register_event("order.packed", audience=NONE, description="The parcel is packed.")
register_event("order.partially_shipped", description="Part of the order left the warehouse.")
register_event("order.shipped", description="Everything left the warehouse.")
register_event("order.delivered", description="The order arrived.")
register_event("order.cancelled", description="The order was cancelled (with the reason).")
register_event("order.returned_to_sender", description="A parcel came back to us undelivered; we will send it again "
               "or refund.")
register_event("order.reshipped", description="A returned order is on its way again.")
register_event("order.on_hold", essential=False, description="The order is delayed by a hold.")
register_event("order.released", audience=NONE, description="A hold was lifted.")
register_event("order.note_added", essential=False, description="Staff left a note the customer may read.")
register_event("order.edited", template="order.note_added",
               description="Staff changed the order's items (what changed, and the new total).")
register_event("order.backorder_allocated",
               description="Backordered items arrived and are now reserved for the customer's order.")
register_event("order.address_changed", template="order.note_added",
               description="The delivery address was changed (confirmation to the customer).")
register_event("order.address_changed_alert", audience=STAFF, template="staff_alert",
               description="A customer changed the delivery address of an order not yet labelled.")
register_event("order.payment_updated", audience=NONE, description="The payment status changed.")
register_event("order.replacement_placed", audience=NONE, description="A replacement order was created for a claim.")
register_event("order.replacement_confirmed", audience=NONE, description="A replacement order was confirmed.")

# --- Shipping (emitted by the shipping app) -----------------------------------------------------------
register_event("shipment.shipped", supersedes=("order.shipped", "order.partially_shipped"),
               description="A parcel left, with carrier, tracking number and tracking link.")
register_event("shipment.out_for_delivery", description="The carrier is delivering today.")
register_event("shipment.delivered", supersedes=("order.delivered",), description="The carrier delivered.")
register_event("shipment.exception", description="The carrier reported a delivery problem (customer email).")
register_event("shipment.exception_alert", audience=STAFF, template="staff_alert",
               description="The carrier reported a delivery problem (staff alert).")
register_event("shipment.scan_overdue", audience=STAFF, template="staff_alert",
               description="A label was created but the carrier has not scanned the parcel in time.")

# --- Accounts (the portal) -----------------------------------------------------------------------------
register_event("account.verify", description="The link that confirms a new account's email.")

# --- Staff alerts ------------------------------------------------------------------------------------------
register_event("stock.low", audience=STAFF, description="A product fell to or below its low-stock threshold.")
