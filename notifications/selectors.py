from __future__ import annotations

from django.db.models import Min, QuerySet
from django.utils import timezone

from .models import Notification, NotificationPreference, OutboxMessage


def notification_list_for_customer(*, customer) -> QuerySet[Notification]:
    """The customer's own notifications, newest first (for the portal). Staff alerts never appear here."""
    return (Notification.objects.filter(customer=customer, audience=Notification.Audience.CUSTOMER)
            .select_related("outbox").order_by("-created_at", "-id"))


def outbox_keys_recorded(*, keys) -> set[str]:
    """Which of these idempotency keys already have an outbox row (an event recorded once must not be again)."""
    return set(OutboxMessage.objects.filter(idempotency_key__in=list(keys)).values_list("idempotency_key", flat=True))


def notification_preference_for(*, user) -> NotificationPreference:
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


def outbox_backlog() -> dict:
    """Rows not yet fanned out and the age, in seconds, of the oldest one (None when the outbox is empty)."""
    unsent = OutboxMessage.objects.filter(processed_at__isnull=True)
    oldest = unsent.aggregate(oldest=Min("created_at"))["oldest"]
    return {
        "count": unsent.count(),
        "oldest_created_at": oldest,
        "oldest_age_seconds": (timezone.now() - oldest).total_seconds() if oldest else None,
    }
