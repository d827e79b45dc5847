from django.apps import AppConfig


class ShippingConfig(AppConfig):
    name = "shipping"
    verbose_name = "Shipping"

    def ready(self) -> None:
        from orders.selectors import register_order_finder
        from orders.services import (
            register_address_change_guard,
            register_edit_guard,
            register_ship_everything_guard,
        )
        from orders.timeline import register_event_kind

        from . import selectors, services

        register_order_finder(selectors.order_ids_for_identifier)
        from orders.exports import register_job_runner

        register_job_runner("shipments", services.shipments_job_run)

        register_ship_everything_guard(services.open_shipments_refusal)
        register_ship_everything_guard(services.serial_tracked_refusal)
        register_address_change_guard(services.labelled_parcels_refusal)
        register_edit_guard(services.parcels_made_refusal)
        register_event_kind(services.KIND_SHIPMENT_CREATED, label="Shipment created", app=self.name,
                            customer_title="Parcel being prepared")
        register_event_kind(services.KIND_PARCEL_UPDATE, label="Parcel update", app=self.name,
                            customer_title="Parcel update")
        self._extend_order_admin()

    @staticmethod
    def _extend_order_admin() -> None:
        """Shipping's actions, inline and buttons on the order page, through the order admin's extension hook."""
        from django.urls import reverse

        from config.admin import AdminButton, AdminSection
        from orders.admin import order_admin_extensions
        from orders.models import Order

        from . import admin, selectors

        for action in (admin.create_shipments, admin.print_pick_list, admin.print_packing_slips):
            order_admin_extensions.add_action(action)
        order_admin_extensions.add_section(AdminSection(
            "Parcels", "admin/shipping/shipment/_order_parcels.html", context=admin.order_parcels_section,
            permission="shipping.view_shipment"))
        S = Order.Status
        order_admin_extensions.add_button(AdminButton(
            "Create shipments", permission="shipping.add_shipment",
            url=lambda order: reverse("admin:shipping_shipment_create_for_order", args=[order.number]),
            show=lambda order: (order.status in (S.PROCESSING, S.PACKED, S.PARTIALLY_SHIPPED)
                                and bool(selectors.shippable_quantities(order_id=order.pk))),
            primary=lambda order: True,
            help_text="Put the reserved items into parcels, one per warehouse, ready to pick and pack."))
        order_admin_extensions.add_button(AdminButton(
            "Print pick list", permission="orders.view_order",
            url=lambda order: reverse("admin:shipping_shipment_order_pick_list", args=[order.number]),
            show=lambda order: order.status in (S.CONFIRMED, S.PROCESSING)))
        order_admin_extensions.add_button(AdminButton(
            "Send again", permission="shipping.add_shipment",
            url=lambda order: reverse("admin:shipping_shipment_reship", args=[order.number]),
            show=lambda order: order.status == S.RETURNED, primary=lambda order: True,
            help_text="Reserve the returned units again and make a new parcel."))
