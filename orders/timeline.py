"""The kinds of entry an order's timeline holds, and how each one reads.

The orders app owns the timeline; other apps add their own kinds from their `AppConfig.ready()` and write
entries only through `orders.services.order_event_record`, inside their own service's transaction:

    from orders.timeline import register_event_kind
    register_event_kind("return_approved", label="Return approved", customer_title="Your return was approved")

    order_event_record(order=order, kind="return_approved", text="We will send you a return label.",
                       data={"return_number": rma.number}, actor=agent)

`label` is what staff read in the admin; `customer_title` is the heading a customer sees above the entry's text
on their order page (an internal entry is never shown to a customer, whatever its kind). `data` holds the facts
a page or a webhook needs (numbers, amounts, serials), never text rendered for one audience.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.errors import InvalidInput


@dataclass(frozen=True)
class EventKind:
    name: str
    label: str
    customer_title: str = ""
    app: str = ""


_kinds: dict[str, EventKind] = {}


def register_event_kind(name: str, *, label: str, customer_title: str = "", app: str = "") -> EventKind:
    """Declare a kind of timeline entry. Registering a name again replaces it."""
    if not name or len(name) > 40 or not name.replace("_", "").isalnum() or name != name.lower():
        raise ValueError(f"An event kind is 1 to 40 lowercase letters, digits and underscores, not {name!r}.")
    kind = EventKind(name=name, label=label, customer_title=customer_title or label, app=app)
    _kinds[name] = kind
    return kind


def get_event_kind(name: str) -> EventKind:
    try:
        return _kinds[name]
    except KeyError:
        known = ", ".join(sorted(_kinds))
        raise InvalidInput(f"There is no timeline entry kind called {name!r}.", kind=name, allowed=known) from None


def event_kind_label(name: str) -> str:
    kind = _kinds.get(name)
    return kind.label if kind else name.replace("_", " ").capitalize()


def event_kind_customer_title(name: str) -> str:
    kind = _kinds.get(name)
    return kind.customer_title if kind else event_kind_label(name)


def event_kinds() -> list[EventKind]:
    return sorted(_kinds.values(), key=lambda k: k.name)


# The orders app's own kinds.
STATUS = register_event_kind("status", label="Status change", app="orders").name
NOTE = register_event_kind("note", label="Note", customer_title="Message from customer service", app="orders").name
PAYMENT = register_event_kind("payment", label="Payment", app="orders").name
