from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from inventory.services import register_receipt_listener

        from .services import order_fill_backorders

        # a delivery fills the lines waiting on backorder, in the receipt's transaction
        register_receipt_listener(order_fill_backorders)
