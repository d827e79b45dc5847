from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.utils.timesince import timesince
from simple_history.admin import SimpleHistoryAdmin

from config.admin import AppendOnlyAdmin, ReadOnlyTabularInline

from .models import (
    Notification,
    NotificationPreference,
    OutboxMessage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from .registry import event_names
from .selectors import outbox_backlog
from .services import notification_resend
from .webhooks import webhook_delivery_replay, webhook_endpoint_enable


class EventFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "event"

    def lookups(self, request, model_admin):
        return [(name, name) for name in event_names()]

    def queryset(self, request, queryset):
        return queryset.filter(event=self.value()) if self.value() else queryset


class CustomerFilter(admin.SimpleListFilter):
    """`?customer=<id>` for one customer's notifications (linked from elsewhere), or those with no customer."""

    title = "customer"
    parameter_name = "customer"

    def lookups(self, request, model_admin):
        choices = [("none", "No customer (staff alerts, guests)")]
        value = self.value()
        if value and value.isdigit():
            user = get_user_model().objects.filter(pk=value).first()
            if user is not None:
                choices.append((value, user.get_username()))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(customer__isnull=True)
        if value and value.isdigit():
            return queryset.filter(customer_id=value)
        return queryset


@admin.register(Notification)
class NotificationAdmin(AppendOnlyAdmin):
    list_display = ["created_at", "event", "audience", "channel", "recipient", "customer", "status", "attempts",
                    "sent_at", "short_error"]
    list_filter = [EventFilter, "status", "channel", "audience", CustomerFilter]
    list_select_related = ["customer"]
    search_fields = ["=recipient", "=customer__email", "=customer__username", "=outbox__subject_label"]
    search_help_text = "Exact email address, username or subject (an order number)."
    readonly_fields = ["outbox", "event", "channel", "audience", "customer", "recipient", "subject", "status",
                       "attempts", "last_error", "next_attempt_at", "claimed_at", "sent_at", "created_at"]
    actions = ["resend"]

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.action(description="Send the selected notifications again", permissions=["resend"])
    def resend(self, request, queryset):
        count = notification_resend(notification_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} notification(s) queued to be sent again.", messages.SUCCESS)

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.change_notification")


class NotificationInline(ReadOnlyTabularInline):
    model = Notification
    fields = ["recipient", "audience", "status", "attempts", "sent_at", "last_error"]
    readonly_fields = fields


@admin.register(OutboxMessage)
class OutboxMessageAdmin(AppendOnlyAdmin):
    list_display = ["id", "created_at", "event", "subject_label", "customer", "dispatched_at", "processed_at",
                    "suppressed_for_customer"]
    list_filter = [EventFilter, ("processed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["customer"]
    search_fields = ["=subject_label", "=idempotency_key"]
    readonly_fields = ["uuid", "event", "idempotency_key", "payload", "subject_type", "subject_id", "subject_label",
                       "customer", "recipient", "staff_recipients", "transaction_marker", "suppressed_for_customer",
                       "created_at", "dispatched_at", "processed_at"]
    inlines = [NotificationInline]

    def changelist_view(self, request, extra_context=None):
        backlog = outbox_backlog()
        if backlog["count"]:
            age = backlog["oldest_age_seconds"]
            waited = f"{age:.0f} seconds" if age < 60 else timesince(backlog["oldest_created_at"])
            title = f"Outbox: {backlog['count']} unsent, the oldest waiting {waited}"
        else:
            title = "Outbox: nothing waiting"
        return super().changelist_view(request, {**(extra_context or {}), "title": title, "backlog": backlog})


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "non_essential_email", "updated_at"]
    list_filter = ["non_essential_email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    search_fields = ["=user__email", "=user__username"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SimpleHistoryAdmin):
    list_display = ["url", "description", "event_types", "active", "consecutive_failures", "disabled_at"]
    list_filter = ["active"]
    readonly_fields = ["consecutive_failures", "disabled_at", "disabled_reason", "created_at"]
    actions = ["enable"]

    @admin.action(description="Enable again (reset the failure count)", permissions=["change"])
    def enable(self, request, queryset):
        count = webhook_endpoint_enable(endpoint_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} endpoint(s) enabled.", messages.SUCCESS)


class WebhookAttemptInline(ReadOnlyTabularInline):
    model = WebhookAttempt
    fields = ["created_at", "status_code", "response_ms", "error"]
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AppendOnlyAdmin):
    list_display = ["created_at", "event", "endpoint", "status", "attempts", "response_status", "response_ms",
                    "delivered_at"]
    list_filter = [EventFilter, "status", "endpoint"]
    list_select_related = ["endpoint"]
    readonly_fields = ["outbox", "endpoint", "event", "status", "attempts", "response_status", "response_ms",
                       "last_error", "next_attempt_at", "claimed_at", "delivered_at", "created_at"]
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    @admin.action(description="Replay the selected deliveries", permissions=["replay"])
    def replay(self, request, queryset):
        count = webhook_delivery_replay(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliver(ies) queued again.", messages.SUCCESS)

    def has_replay_permission(self, request):
        return request.user.has_perm("notifications.change_webhookdelivery")
