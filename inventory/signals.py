from django.dispatch import Signal

# Sent inside the transaction that raised them, with `alerts` (a list of new LowStockAlert rows). Receivers
# that need to reach the outside world must do so after commit (the notifications outbox does).
low_stock_alerts_raised = Signal()
