"""Support's configuration in the admin (calendars, queues, SLA policies, canned replies) and a read view of tickets
and the inbound email log. Agents work tickets in the workspace; every change there goes through support.services."""

from django.contrib import admin

from config.admin import AppendOnlyAdmin, EstimatedCountPaginator, ReadOnlyTabularInline

from .models import (
    BusinessCalendar,
    CannedReply,
    Holiday,
    InboundEmail,
    Message,
    Queue,
    SlaPolicy,
    Ticket,
    TicketEvent,
    WorkingHours,
)


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "is_default"]
    inlines = [WorkingHoursInline, HolidayInline]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "calendar", "auto_assign"]
    filter_horizontal = ["agents"]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "first_response_minutes", "resolution_minutes", "warning_percent"]


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ["title", "category"]
    search_fields = ["title", "body"]


class MessageInline(ReadOnlyTabularInline):
    model = Message
    fields = ["created_at", "internal", "from_customer", "author", "source", "body"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


class TicketEventInline(ReadOnlyTabularInline):
    model = TicketEvent
    verbose_name_plural = "timeline"
    fields = ["created_at", "kind", "from_status", "to_status", "text", "internal", "actor"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["number", "subject", "status", "priority", "category", "assignee", "resolution_due",
                    "created_at"]
    list_filter = ["status", "priority", "category", "queue", "channel"]
    list_select_related = ["assignee"]
    search_fields = ["=number", "=email", "=order__number"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [f.name for f in Ticket._meta.fields if f.name != "reply_token"]
    fields = readonly_fields
    inlines = [MessageInline, TicketEventInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InboundEmail)
class InboundEmailAdmin(AppendOnlyAdmin):
    list_display = ["received_at", "sender", "subject", "outcome", "ticket", "detail"]
    list_filter = ["outcome"]
    list_select_related = ["ticket"]
    search_fields = ["=sender", "=message_id"]
