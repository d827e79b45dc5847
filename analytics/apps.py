from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """The business seeing itself: sales, customers, fulfilment, after-sales and stock panels for staff, and the
    time-in-state rules that alert staff when something waits too long. Reads the other apps through their selectors
    or its own rollup tables; writes nothing of theirs."""

    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from .time_in_state import events

        events.register()

        from orders.signals import order_event_recorded
        from shipping.signals import shipment_status_changed

        from . import dashboard_admin, rollups  # noqa: F401 - the dashboard's link on the admin index

        # A change to an order of a closed day marks it for the next refresh, in the change's own transaction.
        order_event_recorded.connect(rollups.on_order_event_recorded, dispatch_uid="analytics.rollups.order")
        shipment_status_changed.connect(rollups.on_shipment_status_changed,
                                        dispatch_uid="analytics.rollups.shipment")
