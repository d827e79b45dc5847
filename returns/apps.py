from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "returns"
    verbose_name = "Returns"

    def ready(self) -> None:
        from orders.timeline import register_event_kind
        from shipping.signals import shipment_status_changed

        from . import services

        register_event_kind(services.KIND_RETURN, label="Return", app=self.name, customer_title="Your return")
        shipment_status_changed.connect(services.on_shipment_status_changed, dispatch_uid="returns.shipments")
        self._register_notifications()
        self._extend_order_admin()

    @staticmethod
    def _extend_order_admin() -> None:
        """"Start a return / claim" and "Refund" on the order's page, and its returns as an inline."""
        from django.urls import reverse

        from config.admin import AdminButton
        from orders.admin import order_admin_extensions
        from orders.models import Order
        from orders.services import order_refundable

        from . import admin

        S = Order.Status
        AFTER = (S.RETURNED, S.DELIVERED, S.CANCELLED)  # "Refund": the whole order's money may go back
        order_admin_extensions.add_inline(admin.OrderReturnInline)
        order_admin_extensions.add_button(AdminButton(
            "Start a return / claim", permission="returns.add_returnrequest",
            url=lambda order: reverse("admin:returns_returnrequest_start", args=[order.number]),
            show=lambda order: order.status in (S.DELIVERED, S.SHIPPED, S.PARTIALLY_SHIPPED, S.RETURNED)))
        order_admin_extensions.add_button(AdminButton(
            "Refund", permission="returns.refund_returnrequest",
            url=lambda order: reverse("admin:returns_returnrequest_refund_order", args=[order.number]),
            show=lambda order: order.status in AFTER and order_refundable(order) > 0))
        order_admin_extensions.add_button(AdminButton(  # items removed from a paid order still on its way
            "Refund the difference", permission="returns.refund_returnrequest",
            url=lambda order: reverse("admin:returns_returnrequest_refund_order", args=[order.number]),
            show=lambda order: order.status not in AFTER and order.refund_due > 0, primary=lambda order: True,
            help_text="What was paid beyond the order's total now, back to the customer."))

    @staticmethod
    def _register_notifications() -> None:
        from django.apps import apps

        if not apps.is_installed("notifications"):
            return
        from notifications.registry import STAFF, register_event

        register_event("return.requested", description="We received the customer's return or claim.")
        register_event("return.approved", description="The return was accepted: instructions, the return label "
                       "and, for an advance replacement, the replacement order.")
        register_event("return.rejected", description="The return was refused, with the reason.")
        register_event("return.cancelled", description="The return was withdrawn.")
        register_event("return.received", description="The returned item arrived at the warehouse.")
        register_event("return.resolved", description="A replacement or exchange is on its way to be prepared.")
        register_event("return.replacement_shipped", supersedes=("shipment.shipped",),
                       description="The replacement left, with its tracking number.")
        register_event("return.replacement_delivered", supersedes=("shipment.delivered",),
                       description="The replacement arrived.")
        register_event("refund.issued", description="Money went back to the customer.")
        register_event("return.unresolved_alert", audience=STAFF, template="staff_alert",
                       description="A returned item was received and the return is not resolved in time.")
        register_event("return.item_overdue_alert", audience=STAFF, template="staff_alert",
                       description="The faulty item of an advance replacement is past its due date.")
