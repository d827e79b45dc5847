from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from inventory.signals import low_stock_alerts_raised
        from orders.signals import order_event_recorded

        from . import receivers, registry  # noqa: F401 - registers the built-in events

        order_event_recorded.connect(receivers.on_order_event_recorded, dispatch_uid="notifications.order_event")
        low_stock_alerts_raised.connect(receivers.on_low_stock_alerts_raised, dispatch_uid="notifications.low_stock")
