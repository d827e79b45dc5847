from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from orders.signals import order_event_recorded
        from orders.timeline import register_event_kind
        from shipping.signals import shipment_status_changed

        from .services import case, tickets

        register_event_kind(tickets.KIND_TICKET, label="Support ticket", app=self.name,
                            customer_title="Your conversation with us")
        order_event_recorded.connect(case.on_order_event_recorded, dispatch_uid="support.case_events")
        shipment_status_changed.connect(case.on_shipment_status_changed, dispatch_uid="support.exceptions")
        self._register_notifications()

    @staticmethod
    def _register_notifications() -> None:
        from django.apps import apps

        if not apps.is_installed("notifications"):
            return
        from notifications.registry import STAFF, register_event

        register_event("ticket.opened", description="We received the customer's message (with the reply address).")
        register_event("ticket.reply", description="An agent's public reply (never an internal note).")
        register_event("ticket.sla_warning", audience=STAFF, template="staff_alert",
                       description="A ticket passed the warning share of its first-reply or resolution target.")
        register_event("ticket.sla_breached", audience=STAFF, template="staff_alert",
                       description="A ticket missed its first-reply or resolution target.")
