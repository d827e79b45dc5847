"""The staff dashboard under /analytics/: every panel on one page, each panel on its own page with all its tables,
the CSV of any table, and the customers behind a figure. Thin views: permission → filters → panels → template.
Bad filters are form errors (400), never a server error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial, wraps
from urllib.parse import urlencode

import tablib
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import slugify

from .db import reading, vendor
from .filters import FilterForm
from .links import Links, customers_url
from .panels import PANELS, Context, customer_list
from .panels.customers import LIST_KINDS, SEGMENT_LABELS
from .rollups import rollups_state
from .time_in_state.selectors import breach_list_open

PERMISSION = "analytics.view_analytics"
BREACHES_ON_DASHBOARD = 10
CUSTOMERS_PERMISSION = "orders.view_order"  # customer lists show people: only for staff who may see orders
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def analytics_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
        if not (request.user.is_staff and request.user.has_perm(PERMISSION)):
            raise PermissionDenied("The analytics dashboard needs the 'view analytics' permission.")
        return view(request, *args, **kwargs)

    return wrapper


def _context(request, filters) -> Context:
    may_see_people = request.user.has_perm(CUSTOMERS_PERMISSION)
    return Context(filters=filters, links=Links(request.user),
                   customer_list=partial(customers_url, filters) if may_see_people else None)


def _page(request, template: str, *, form, status: int = 200, **context):
    state = rollups_state() if vendor() == "postgresql" else None
    return render(request, template, {
        "form": form, "chartjs": settings.WAYBILL_CHARTJS_AVAILABLE, "rollups": state,
        "panels_nav": [(key, title) for key, (title, _) in PANELS.items()], "postgresql": vendor() == "postgresql",
        **context}, status=status)


def _filters(request):
    form = FilterForm(request.GET or None)
    if not request.GET:
        form = FilterForm({})
    return form, (form.filters() if form.is_valid() else None)


@analytics_required
def dashboard(request):
    """Every panel, and the open time-in-state breaches (the longest overdue first) above them."""
    form, filters = _filters(request)
    if filters is None or vendor() != "postgresql":
        return _page(request, "analytics/dashboard.html", form=form, status=400 if filters is None else 200)
    ctx = _context(request, filters)
    with reading():
        panels = [fn(ctx) for _, fn in PANELS.values()]
        breaches = list(breach_list_open(limit=BREACHES_ON_DASHBOARD + 1))  # one more: "and more" without a count
    return _page(request, "analytics/dashboard.html", form=form, filters=filters, panels=panels,
                 breaches=breaches[:BREACHES_ON_DASHBOARD], more_breaches=len(breaches) > BREACHES_ON_DASHBOARD)


@analytics_required
def panel(request, key: str):
    if key not in PANELS:
        raise Http404("No such panel.")
    form, filters = _filters(request)
    title, fn = PANELS[key]
    if filters is None or vendor() != "postgresql":
        return _page(request, "analytics/panel.html", form=form, title=title, key=key,
                     status=400 if filters is None else 200)
    with reading():
        result = fn(_context(request, filters))
    return _page(request, "analytics/panel.html", form=form, filters=filters, title=title, key=key, panel=result)


@analytics_required
def export(request, key: str):
    """One table of a panel as CSV (`?table=...` and the page's filters): numbers as numbers, text that a
    spreadsheet would run as a formula quoted."""
    if key not in PANELS:
        raise Http404("No such panel.")
    form, filters = _filters(request)
    if filters is None:
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()), status=400,
                            content_type="text/plain; charset=utf-8")
    if vendor() != "postgresql":
        return HttpResponse("The analytics dashboard needs PostgreSQL.", status=400, content_type="text/plain")
    with reading():
        result = PANELS[key][1](_context(request, filters))
    name = request.GET.get("table") or result.tables[0].key
    table = result.table(name)
    if table is None:
        return HttpResponse(f"No table {name[:40]!r} in this panel: choose one of "
                            f"{', '.join(t.key for t in result.tables)}.", status=400, content_type="text/plain")
    data = tablib.Dataset(headers=[c.label for c in table.columns])
    for row in table.rows:
        data.append([_csv_value(row.get(c.key)) for c in table.columns])
    response = HttpResponse(data.export("csv"), content_type="text/csv; charset=utf-8")
    period = f"{filters.period.start:%Y%m%d}-{filters.period.end:%Y%m%d}"
    response["Content-Disposition"] = f'attachment; filename="waybill-{key}-{slugify(name)}-{period}.csv"'
    return response


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


@analytics_required
def customers(request):
    """The customers behind a figure: an RFM segment (?segment=champions) or the period's new, returning or repeat
    customers (?kind=new), the biggest lifetime value first."""
    if not request.user.has_perm(CUSTOMERS_PERMISSION):
        raise PermissionDenied("Customer lists need the permission to see orders.")
    segment, kind = request.GET.get("segment") or "", request.GET.get("kind") or ""
    form = FilterForm(request.GET)
    if segment and segment not in SEGMENT_LABELS:
        form.is_valid()
        form.add_error(None, f"There is no RFM segment {segment[:40]!r}.")
    elif not segment and kind not in LIST_KINDS:
        form.is_valid()
        form.add_error(None, "Choose what to list: new, returning, repeat or all customers, or an RFM segment.")
    if not form.is_valid() or vendor() != "postgresql":
        return _page(request, "analytics/customers.html", form=form, status=400 if form.errors else 200)
    filters = form.filters()
    ctx = _context(request, filters)
    with reading():
        title, found, total = customer_list(ctx, kind=kind, segment=segment)
    back = f"{reverse('analytics:panel', args=['customers'])}?{urlencode(filters.query())}"
    return _page(request, "analytics/customers.html", form=form, filters=filters, title=title, customers=found,
                 total=total, segment=segment, kind=kind, back=back)
