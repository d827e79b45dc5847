from django.dispatch import Signal

# Sent inside the transaction that wrote the timeline entry, with `order` and `event` (an OrderEvent).
# Receivers that reach the outside world must defer that until after commit (the notifications outbox does).
order_event_recorded = Signal()
