from django.dispatch import Signal

# Sent inside the transaction that changed a shipment's status, with `shipment`, `event` (the notification name:
# shipment.shipped, shipment.out_for_delivery, shipment.delivered, shipment.exception) and `payload`
# (carrier_name, tracking_number, tracking_url, order_number). Receivers that reach the outside world must wait
# for the commit (an outbox row, or transaction.on_commit).
shipment_status_changed = Signal()
