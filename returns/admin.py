"""Returns in the admin: the list with filters and bulk approval, the return's page with a button for each step
it may take next (each step a small form), inspection per line, photos, each serial's history, refunds, and
"Start a return / claim" and "Refund" from an order's page. Every step goes through returns.services."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from config.admin import AppendOnlyAdmin, EstimatedCountPaginator, ReadOnlyTabularInline
from config.errors import DomainError
from orders.admin import OrderChannelFilter
from orders.models import Order
from orders.services import order_refundable

from . import forms
from .models import Reason, Refund, ReturnEvent, ReturnLine, ReturnRequest
from .selectors import defective_serials, return_search, returnable_quantities, with_line_count
from .services import (
    allowed_transitions,
    refund_issue,
    return_approve,
    return_cancel,
    return_close,
    return_create,
    return_inspect,
    return_receive,
    return_reject,
    return_resolve,
)

R = ReturnRequest.Status

# step name → (button label, form, what the page says the step does)
STEPS = {
    "approve": ("Approve", forms.ApproveForm, "Accept the return and decide how the item is handled. A return label "
                "is issued when the item comes back; an advance replacement creates the replacement order now."),
    "reject": ("Reject", forms.RejectForm, "Refuse the return. The customer is emailed the reason."),
    "receive": ("Receive item", forms.ReceiveForm, "The parcel is here: the units wait for inspection (nothing is "
                "sellable until inspected)."),
    "inspect": ("Inspect", forms.InspectForm, "Decide what becomes of each item. Restock puts it back into the "
                "warehouse's stock; scrap writes it off; both are recorded in the stock ledger."),
    "resolve": ("Resolve", forms.ResolveForm, "Give the customer what the return promised: the refund, the "
                "replacement order, or the exchange."),
    "close": ("Close", forms.CloseForm, "Nothing more to do for this return."),
    "cancel": ("Cancel", forms.CancelForm, "Withdraw the return: an unused return label is cancelled."),
}


class AgeFilter(admin.SimpleListFilter):
    title = "waiting"
    parameter_name = "age"
    DAYS = {"2": "over 2 days", "7": "over a week", "30": "over a month"}

    def lookups(self, request, model_admin):
        return list(self.DAYS.items())

    def queryset(self, request, queryset):
        if self.value() in self.DAYS:
            cutoff = timezone.now() - timedelta(days=int(self.value()))
            return queryset.filter(created_at__lt=cutoff).exclude(status__in=[R.CLOSED, R.CANCELLED, R.REJECTED])
        return queryset


class ReasonFilter(admin.SimpleListFilter):
    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return Reason.choices

    def queryset(self, request, queryset):
        if self.value() in Reason.values:  # a semi-join: no DISTINCT over the whole table
            return queryset.filter(pk__in=ReturnLine.objects.filter(reason=self.value()).values("return_request_id"))
        return queryset


class SkuFilter(admin.SimpleListFilter):
    """Returns with a line of one product, `?sku=...` (the analytics dashboard links here); in the sidebar only
    while in use."""

    title = "product"
    parameter_name = "sku"

    def lookups(self, request, model_admin):
        value = str(self.value() or "")[:64]
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        lines = ReturnLine.objects.filter(order_line__sku=str(self.value())[:64]).values("return_request_id")
        return queryset.filter(pk__in=lines)


class ReturnLineInline(ReadOnlyTabularInline):
    model = ReturnLine
    fk_name = "return_request"
    fields = ["order_line", "quantity", "reason", "description", "serial_history", "replacement", "disposition",
              "disposition_warehouse", "inspection_note", "photo_links"]
    readonly_fields = fields

    def get_queryset(self, request):
        return (super().get_queryset(request)
                .select_related("order_line", "unit", "replacement_unit", "disposition_warehouse")
                .prefetch_related("photos"))

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("returns.view_returnrequest")

    @admin.display(description="serial (history)")
    def serial_history(self, obj: ReturnLine) -> str:
        if not obj.unit_id:
            return "—"
        return format_html('<a href="{}">{}</a> · {}', reverse("admin:inventory_unit_change", args=[obj.unit_id]),
                           obj.unit.serial, obj.unit.get_status_display())

    @admin.display(description="sent in its place")
    def replacement(self, obj: ReturnLine) -> str:
        if not obj.replacement_unit_id:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:inventory_unit_change",
                                                          args=[obj.replacement_unit_id]), obj.replacement_unit.serial)

    @admin.display(description="photos")
    def photo_links(self, obj: ReturnLine) -> str:
        photos = list(obj.photos.all())
        if not photos:
            return "—"
        return format_html_join(" ", '<a href="{}" target="_blank" rel="noopener">photo {}</a>', (
            (reverse("admin:returns_returnrequest_photo", args=[p.pk]), i) for i, p in enumerate(photos, 1)))


class ReturnEventInline(ReadOnlyTabularInline):
    model = ReturnEvent
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ["created_at", "kind", "from_status", "to_status", "text", "internal", "actor"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("returns.view_returnrequest")


class RefundInline(ReadOnlyTabularInline):
    model = Refund
    fields = ["created_at", "amount", "items_amount", "shipping_amount", "currency", "reason", "provider_reference",
              "issued_by"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("issued_by")


def _step_buttons(request, rr: ReturnRequest) -> list[dict]:
    allowed = allowed_transitions(rr, request.user)
    if rr.replacement_order_id:  # a replacement sent ahead cannot be taken back by cancelling the return
        allowed = [name for name in allowed if name != "cancel"]
    return [{"label": STEPS[name][0], "url": reverse("admin:returns_returnrequest_step", args=[rr.pk, name])}
            for name in STEPS if name in allowed]


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = ["number", "order", "status", "resolution", "line_count", "warehouse", "created_at"]
    list_filter = ["status", ReasonFilter, "resolution", "handling", AgeFilter, "warehouse", "channel",
                   OrderChannelFilter, SkuFilter]
    list_select_related = ["order", "warehouse"]
    search_fields = ["number"]  # see get_search_results: one index per kind of term
    search_help_text = "Exact return number, order number or serial number."
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["approve_selected"]
    readonly_fields = ["number", "order_link", "customer", "email", "status", "resolution", "exchange_product",
                       "handling", "channel", "warehouse", "label", "replacement_link", "item_due_by",
                       "customer_note", "decision", "created_by", "created_at", "approved_at", "received_at",
                       "resolved_at", "closed_at"]
    fields = readonly_fields
    inlines = [ReturnLineInline, RefundInline, ReturnEventInline]
    change_form_template = "admin/returns/returnrequest/change_form.html"

    def get_queryset(self, request):
        return with_line_count(super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return return_search(queryset, search_term), False

    def has_add_permission(self, request):
        return False  # from an order's page: "Start a return / claim"

    def has_change_permission(self, request, obj=None):
        return False  # every change is a step (the buttons on the page)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="lines", ordering="line_count")
    def line_count(self, obj) -> int:
        return obj.line_count

    @admin.display(description="order")
    def order_link(self, obj: ReturnRequest) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                           obj.order.number)

    @admin.display(description="replacement order")
    def replacement_link(self, obj: ReturnRequest) -> str:
        if not obj.replacement_order_id:
            return "—"
        return format_html('<a href="{}">{}</a> · {}', reverse("admin:orders_order_change",
                                                               args=[obj.replacement_order_id]),
                           obj.replacement_order.number, obj.replacement_order.get_status_display())

    @admin.display(description="return label")
    def label(self, obj: ReturnRequest) -> str:
        shipment = obj.label_shipment
        if shipment is None:
            return "—"
        return format_html('{} {} · {} · <a href="{}" target="_blank">PDF</a> · <a href="{}">parcel</a>',
                           shipment.carrier.name, shipment.tracking_number, shipment.get_status_display(),
                           reverse("portal:return-label", args=[obj.number]),
                           reverse("admin:shipping_shipment_change", args=[shipment.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["step_buttons"] = _step_buttons(request, obj) if obj is not None else []
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.action(description="Approve selected returns (item comes back with a return label)")
    def approve_selected(self, request, queryset):
        if not request.user.has_perm("returns.approve_returnrequest"):
            self.message_user(request, "You may not approve returns.", level=messages.ERROR)
            return
        ok = 0
        for number in queryset.filter(status=R.REQUESTED).order_by("pk").values_list("number", flat=True):
            try:
                return_approve(return_request=number, actor=request.user)
                ok += 1
            except DomainError as err:
                self.message_user(request, f"{number}: {err.message}", level=messages.ERROR)
        skipped = queryset.exclude(status=R.REQUESTED).count()
        if ok:
            self.message_user(request, f"{ok} return(s) approved; the customers were sent their labels.",
                              level=messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} selected return(s) were not waiting for a decision.",
                              level=messages.WARNING)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/step/<str:name>/", view(self.step_view), name="returns_returnrequest_step"),
            path("start/<str:number>/", view(self.start_view), name="returns_returnrequest_start"),
            path("refund-order/<str:number>/", view(self.refund_view), name="returns_returnrequest_refund_order"),
            path("photo/<int:pk>/", view(self.photo_view), name="returns_returnrequest_photo"),
            path("defective-serials/", view(self.defective_view), name="returns_returnrequest_defective"),
            *super().get_urls(),
        ]

    def _page(self, request, template, **context):
        return TemplateResponse(request, f"admin/returns/returnrequest/{template}",
                                {**self.admin_site.each_context(request), "opts": self.opts, **context})

    def step_view(self, request, pk: int, name: str):
        rr = get_object_or_404(ReturnRequest.objects.select_related("order", "warehouse"), pk=pk)
        if name not in STEPS:
            raise Http404("No such step.")
        if not self.has_view_permission(request, rr) or name not in allowed_transitions(rr, request.user):
            if name not in [t.name for t in rr.get_available_status_transitions()]:
                self.message_user(request, f"Return {rr.number} is {rr.get_status_display().lower()}: it cannot "
                                  f"{STEPS[name][0].lower()} now.", level=messages.ERROR)
                return HttpResponseRedirect(reverse("admin:returns_returnrequest_change", args=[rr.pk]))
            raise PermissionDenied
        label, form_class, explanation = STEPS[name]
        lines = list(rr.lines.select_related("order_line", "unit").order_by("pk"))
        data = request.POST if request.method == "POST" else None
        form = (form_class(data, lines=lines, default_warehouse=rr.warehouse) if form_class is forms.InspectForm
                else form_class(data))
        if data is not None and form.is_valid():
            try:
                self._do(name, rr, form, request.user)
            except DomainError as err:
                form.add_error(None, err.message)
                for field, problems in (err.extra.get("fields") or {}).items():
                    form.add_error(None, f"{field}: {' '.join(problems)}")
            else:
                rr.refresh_from_db()
                self.message_user(request, f"Return {rr.number} is now {rr.get_status_display().lower()}.",
                                  level=messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:returns_returnrequest_change", args=[rr.pk]))
        return self._page(request, "step.html", title=f"{label}: return {rr.number}", rr=rr, form=form,
                          explanation=explanation, lines=lines, label=label)

    @staticmethod
    def _do(name: str, rr: ReturnRequest, form, user) -> None:
        data = getattr(form, "cleaned_data", {})
        common = {"return_request": rr.number, "actor": user}
        if name == "approve":
            return_approve(**common, handling=data["handling"], instructions=data["instructions"],
                           warehouse=data["warehouse"], carrier=data["carrier"] or None,
                           tracking_number=data["tracking_number"], send_label=data["send_label"])
        elif name == "reject":
            return_reject(**common, reason=data["reason"])
        elif name == "cancel":
            return_cancel(**common, reason=data["reason"])
        elif name == "receive":
            return_receive(**common, note=data["note"])
        elif name == "inspect":
            return_inspect(**common, inspections=form.inspections())
        elif name == "resolve":
            return_resolve(**common, refund_amount=data["refund_amount"], refund_shipping=data["refund_shipping"] or 0,
                           provider_reference=data["provider_reference"], note=data["note"])
        elif name == "close":
            return_close(**common)

    def start_view(self, request, number: str):
        """Start a return or claim from an order's page: the lines that can still be returned, preselected."""
        if not request.user.has_perm("returns.add_returnrequest"):
            raise PermissionDenied
        order = get_object_or_404(Order, number=number)
        returnable = returnable_quantities(order=order)
        rows = [{"line": line, "returnable": returnable.get(line.pk, 0)}
                for line in order.lines.select_related("product").order_by("pk")]
        form = forms.StartReturnForm(request.POST if request.method == "POST" else None,
                                     rows=[r for r in rows if r["returnable"]])
        if request.method == "POST" and form.is_valid():
            try:
                rr = return_create(order=order, lines=form.line_requests(), actor=request.user,
                                   resolution=form.cleaned_data["resolution"],
                                   channel=form.cleaned_data["channel"],
                                   exchange_sku=form.cleaned_data["exchange_sku"].strip(),
                                   customer_note=form.cleaned_data["customer_note"])
            except DomainError as err:
                form.add_error(None, err.message)
                for field, problems in (err.extra.get("fields") or {}).items():
                    form.add_error(None, f"{field}: {' '.join(problems)}")
            else:
                self.message_user(request, f"Return {rr.number} created for order {order.number}.",
                                  level=messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:returns_returnrequest_change", args=[rr.pk]))
        return self._page(request, "start.html", title=f"Start a return or claim for {order.number}", order=order,
                          form=form, rows=rows)

    def refund_view(self, request, number: str):
        """Refund an order without a return (a parcel that came back to us, a goodwill gesture)."""
        if not request.user.has_perm("returns.refund_returnrequest"):
            raise PermissionDenied
        order = get_object_or_404(Order, number=number)
        refundable = order_refundable(order)
        initial = {"items_amount": order.subtotal, "shipping_amount": order.shipping_total,
                   "reason": "Parcel came back to us: refunded instead of sent again."
                   if order.status == Order.Status.RETURNED else ""}
        due = order.refund_due
        if due and order.status != Order.Status.CANCELLED:  # items removed after payment: just the difference
            initial = {"items_amount": due, "shipping_amount": 0,
                       "reason": "Items removed from the order after payment: the difference refunded."}
        form = forms.RefundForm(request.POST if request.method == "POST" else None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                refund, _ = refund_issue(order=order.number, items_amount=data["items_amount"],
                                         shipping_amount=data["shipping_amount"], reason=data["reason"],
                                         provider_reference=data["provider_reference"], actor=request.user)
            except DomainError as err:
                form.add_error(None, err.message)
            else:
                self.message_user(request, f"Refunded {refund.amount} {refund.currency} on {order.number}.",
                                  level=messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        return self._page(request, "refund.html", title=f"Refund order {order.number}", order=order, form=form,
                          refundable=refundable)

    def photo_view(self, request, pk: int):
        from django.http import FileResponse

        from .models import ReturnPhoto

        if not self.has_view_permission(request):
            raise PermissionDenied
        photo = get_object_or_404(ReturnPhoto, pk=pk)
        response = FileResponse(photo.image.open("rb"), content_type=photo.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def defective_view(self, request):
        """Every unit claimed defective, with its order, its return and the unit sent in its place."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        sku = (request.GET.get("sku") or "").strip()[:64]
        rows = list(defective_serials(sku=sku or None)[:500])
        return self._page(request, "defective.html", title="Defective serial numbers", rows=rows, sku=sku)


@admin.register(Refund)
class RefundAdmin(AppendOnlyAdmin):
    list_display = ["created_at", "order", "return_request", "amount", "currency", "reason", "issued_by"]
    list_select_related = ["order", "return_request", "issued_by"]
    search_fields = ["=order__number", "=return_request__number", "=provider_reference"]
    list_filter = [("created_at", admin.DateFieldListFilter), OrderChannelFilter]


class OrderReturnInline(ReadOnlyTabularInline):
    """The order's returns and claims on its page (registered through orders.admin.order_admin_extensions)."""

    model = ReturnRequest
    fk_name = "order"
    verbose_name = "return or claim"
    verbose_name_plural = "returns and claims"
    fields = ["number", "status", "resolution", "handling", "created_at", "replacement_order"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("replacement_order")
