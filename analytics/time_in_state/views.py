"""The staff page of open breaches, /analytics/breaches/ (the dashboard includes the same fragment,
templates/analytics/_breaches.html)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.shortcuts import render

from .selectors import breach_list_open

PAGE = 200  # the longest overdue first; the admin's breach list has them all, with filters


@staff_member_required
@permission_required("analytics.view_analytics", raise_exception=True)
def breach_list(request):
    breaches = list(breach_list_open(limit=PAGE + 1))
    return render(request, "analytics/breaches.html", {
        **admin.site.each_context(request), "title": "Open breaches", "breaches": breaches[:PAGE],
        "more": len(breaches) > PAGE, "page_size": PAGE,
    })
