import uuid

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from config.history import ChangeHistory


class OutboxMessage(models.Model):
    """An event written in the same transaction as the change it announces; the relay hands it to Celery."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject_id = models.CharField(max_length=64, blank=True)
    subject_label = models.CharField(max_length=200, blank=True)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    recipient = models.EmailField(blank=True, help_text="Contact address for customer emails.")
    transaction_marker = models.UUIDField(null=True, blank=True, editable=False,
                                          help_text="Same value for every row written in one transaction.")
    suppressed_for_customer = models.BooleanField(
        default=False, help_text="A superseding event in the same transaction tells the customer instead."
    )
    staff_recipients = models.JSONField(
        null=True, blank=True, help_text="A staff alert's addresses when whoever raised it chose them (a time-in-state "
        "rule); empty means the staff alert list (WAYBILL_STAFF_ALERT_EMAILS).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="Last handed to the task queue.")
    processed_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Notifications and webhook deliveries were created.")

    class Meta:
        ordering = ["-id"]
        verbose_name = "outbox message"
        indexes = [
            models.Index(fields=["id"], condition=Q(processed_at__isnull=True), name="outbox_unprocessed"),
            # what the relay claims (notifications.services.outbox_relay): rows leave it as they are handed over
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True, processed_at__isnull=True),
                         name="outbox_undispatched"),
            models.Index(fields=["transaction_marker"], name="outbox_transaction"),
        ]

    def __str__(self) -> str:
        return f"{self.event} · {self.subject_label or self.idempotency_key}"


class Notification(models.Model):
    """One email to one person about one outbox message. Unique per (message, channel, recipient)."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"

    class Audience(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        STAFF = "staff", "Staff"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        UNCERTAIN = "uncertain", "Uncertain (worker lost mid-send; sent again later)"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (opted out)"

    outbox = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=64)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    audience = models.CharField(max_length=10, choices=Audience.choices)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="notifications")
    recipient = models.EmailField()
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["outbox", "channel", "recipient"], name="notification_once_per_recipient"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="notification_customer_time"),
            models.Index(fields=["status", "next_attempt_at"], name="notification_status_next"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient}"


class NotificationPreference(models.Model):
    """A customer's choice about email. Essential emails (confirmations, shipping updates) are always sent."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_preference")
    non_essential_email = models.BooleanField(
        "other emails", default=True, help_text="Delays, holds and notes. Turn off to receive only essentials."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Preferences of {self.user_id}"


class WebhookEndpoint(models.Model):
    url = models.URLField("URL", max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=128, help_text="Shared secret for the Waybill-Signature header.")
    event_types = models.JSONField(default=list, blank=True,
                                   help_text='Event names to receive, e.g. ["order.placed"]; ["*"] for all.')
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # where events go and which, switched off or on (by staff or after failures); not the secret, not each failure
    history = ChangeHistory(tracked=["url", "description", "event_types", "active", "disabled_reason"],
                            created_field="created_at")

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        return "*" in self.event_types or event in self.event_types


class WebhookDelivery(models.Model):
    """One outbox message sent to one endpoint. Unique per (message, endpoint); replays reuse the row."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    outbox = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="webhook_deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField("response time (ms)", null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["outbox", "endpoint"], name="webhookdelivery_once_per_endpoint"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_status_next")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """The log of every POST: status code (or error) and response time."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField("response time (ms)")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "id"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error[:40]} in {self.response_ms} ms"
