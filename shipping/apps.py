from django.apps import AppConfig


class ShippingConfig(AppConfig):
    name = "shipping"
    verbose_name = "Shipping"

    def ready(self) -> None:
        from orders.services import register_ship_everything_guard

        from .services import open_shipments_refusal

        register_ship_everything_guard(open_shipments_refusal)
