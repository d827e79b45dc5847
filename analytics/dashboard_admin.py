"""The dashboard's place on the admin index: Analytics → Dashboard opens /analytics/ (for staff who may see it)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from .facts import Dashboard

PERMISSION = "analytics.view_analytics"


class DashboardAdmin(admin.ModelAdmin):
    def has_module_permission(self, request):
        return request.user.has_perm(PERMISSION)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return redirect("analytics:dashboard")


if not admin.site.is_registered(Dashboard):
    admin.site.register(Dashboard, DashboardAdmin)
