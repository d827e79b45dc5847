from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from config.idempotency import register_idempotency_store
        from inventory.services import register_receipt_listener

        from .idempotency import idempotent
        from .services import order_fill_backorders

        register_idempotency_store(idempotent)  # the Idempotency-Key of every app's API keeps its answers here

        # a delivery fills the lines waiting on backorder, in the receipt's transaction
        register_receipt_listener(order_fill_backorders)
