"""Analytics in the admin: the time-in-state rules (what waits too long, and who hears about it), their breaches,
and the link to the staff page of open breaches."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from .models import Breach, OpenBreach, TimeInStateRule
from .time_in_state.states import STATES


class TimeInStateRuleForm(forms.ModelForm):
    class Meta:
        model = TimeInStateRule
        fields = ["name", "state", "max_age_hours", "business_hours", "calendar", "notify_staff_list",
                  "notify_group", "notify_users", "active"]

    def clean(self):
        data = super().clean()
        if not (data.get("notify_staff_list") or data.get("notify_group") or data.get("notify_users")):
            raise forms.ValidationError("Choose who is alerted: the staff alert list, a group or people.")
        return data


@admin.register(TimeInStateRule)
class TimeInStateRuleAdmin(admin.ModelAdmin):
    form = TimeInStateRuleForm
    list_display = ["name", "state_display", "limit", "recipients", "open_breaches", "active"]
    list_filter = ["active", "state"]
    list_select_related = ["notify_group"]
    search_fields = ["name"]
    autocomplete_fields = ["notify_users", "notify_group"]
    fieldsets = [
        (None, {"fields": ["name", "state", "active"]}),
        ("How long", {"fields": ["max_age_hours", "business_hours", "calendar"]}),
        ("Who is alerted", {"fields": ["notify_staff_list", "notify_group", "notify_users"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # a rule's breaches are about objects of its state: another state is another rule
        return ["state"] if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            open_count=Count("breaches", filter=Q(breaches__closed_at__isnull=True)),
            people_count=Count("notify_users", distinct=True),
        )

    @admin.display(description="state", ordering="state")
    def state_display(self, rule: TimeInStateRule) -> str:
        state = STATES.get(rule.state)
        return f"{state.group}: {state.label}" if state else rule.state

    @admin.display(description="longer than")
    def limit(self, rule: TimeInStateRule) -> str:
        return rule.max_age_label

    @admin.display(description="alerts")
    def recipients(self, rule: TimeInStateRule) -> str:
        who = []
        if rule.notify_staff_list:
            who.append("the staff alert list")
        if rule.notify_group_id:
            who.append(f"group {rule.notify_group.name}")
        if rule.people_count:
            who.append(f"{rule.people_count} {'person' if rule.people_count == 1 else 'people'}")
        return ", ".join(who) or "nobody"

    @admin.display(description="open breaches", ordering="open_count")
    def open_breaches(self, rule: TimeInStateRule):
        if not rule.open_count:
            return 0
        url = reverse("admin:analytics_breach_changelist")
        return format_html('<a href="{}?rule__id__exact={}&amp;open=yes">{}</a>', url, rule.pk, rule.open_count)


class OpenFilter(admin.SimpleListFilter):
    title = "open"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Closed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(closed_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(closed_at__isnull=False)
        return queryset


@admin.register(Breach)
class BreachAdmin(admin.ModelAdmin):
    """Every breach, open and closed: written only by the rules' evaluation."""

    list_display = ["object_link", "rule", "entered_at", "due_at", "opened_at", "closed_at"]
    list_filter = [OpenFilter, "rule"]
    list_select_related = ["rule"]
    search_fields = ["=label"]
    date_hierarchy = "opened_at"
    show_full_result_count = False
    ordering = ["-opened_at", "-id"]
    fields = ["rule", "state", "object_link", "entered_at", "due_at", "opened_at", "closed_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="object", ordering="label")
    def object_link(self, breach: Breach):
        return format_html('<a href="{}">{}</a>', breach.link, breach.label) if breach.link else breach.label


@admin.register(OpenBreach)
class OpenBreachAdmin(admin.ModelAdmin):
    """The admin index's entry for the staff page /analytics/breaches/."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("analytics.view_analytics")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return HttpResponseRedirect(reverse("analytics:breaches"))
