"""The staff alerts the time-in-state rules raise besides those their apps registered (shipment.scan_overdue,
return.unresolved_alert, return.item_overdue_alert, ticket.sla_breached)."""

from django.apps import apps


def register() -> None:
    if not apps.is_installed("notifications"):
        return
    from notifications.registry import STAFF, register_event

    from .states import GENERIC_EVENT

    register_event("order.unfulfilled_alert", audience=STAFF, template="staff_alert",
                   description="An order is not yet shipped in full long after it was placed (a time-in-state rule).")
    register_event(GENERIC_EVENT, audience=STAFF, template="staff_alert",
                   description="Something stayed in a state longer than a time-in-state rule allows.")
