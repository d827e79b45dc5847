"""Warehouse work in the admin: shipments with their lifecycle buttons, overdue labels, and order actions to
create shipments and print pick lists and packing slips. Every action goes through shipping.services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm.admin import FSMAdminMixin
from simple_history.admin import SimpleHistoryAdmin

from config.admin import EstimatedCountPaginator, ReadOnlyAdminMixin, ReadOnlyTabularInline, TransitionUrlsMixin
from config.errors import DomainError
from inventory.models import Warehouse
from orders.admin import OrderChannelFilter
from orders.models import Order
from orders.services import order_units_to_send

from .documents import packing_slips_pdf, pick_list_pdf, shipping_label_pdf
from .forms import PackForm, PackStationForm
from .models import Carrier, FulfilmentQueue, PickWave, Shipment, ShipmentEvent, ShipmentLine, ShipmentUnit
from .packing import PACKABLE, ScanRefused, pack_lines, pack_scan, parcel_for_scan
from .selectors import (
    QUEUE_PAGE,
    fulfilment_counts,
    fulfilment_queue,
    overdue_hours,
    shipment_overdue_q,
    shippable_quantities,
)
from .services import (
    shipment_create_all,
    shipment_create_for_lines,
    shipment_pack_and_label,
    shipment_reship,
    shipment_transition,
    wave_create,
)


def _just_packed(request):
    """The parcel this packer labelled last (shown once on the station, with its label to print)."""
    pk = request.session.pop("pack:last", None)
    return Shipment.objects.select_related("order", "carrier").filter(pk=pk).first() if pk else None


class OverdueScanFilter(admin.SimpleListFilter):
    title = "carrier scan"
    parameter_name = "scan"

    def lookups(self, request, model_admin):
        return [("overdue", f"No scan {overdue_hours()} h after the label")]

    def queryset(self, request, queryset):
        return queryset.filter(shipment_overdue_q()) if self.value() == "overdue" else queryset


class ShipmentLineInline(ReadOnlyTabularInline):
    model = ShipmentLine
    fields = ["order_line", "quantity"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line")


class ShipmentUnitInline(ReadOnlyTabularInline):
    model = ShipmentUnit
    verbose_name = "serial-numbered unit"
    verbose_name_plural = "serial numbers packed"
    fields = ["sku", "serial", "unit_status"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("unit__product")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("shipping.view_shipment")  # whoever sees the parcel sees what is in it

    @admin.display(description="SKU")
    def sku(self, obj: ShipmentUnit) -> str:
        return obj.unit.product.sku

    @admin.display(description="serial number")
    def serial(self, obj: ShipmentUnit) -> str:
        url = reverse("admin:inventory_unit_change", args=[obj.unit_id])
        return format_html('<a href="{}">{}</a>', url, obj.unit.serial)

    @admin.display(description="unit now")
    def unit_status(self, obj: ShipmentUnit) -> str:
        return obj.unit.get_status_display()


class ShipmentEventInline(ReadOnlyTabularInline):
    model = ShipmentEvent
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ["occurred_at", "source", "from_status", "to_status", "carrier_status_code", "location",
              "description", "actor"]
    readonly_fields = fields
    ordering = ["occurred_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Carrier)
class CarrierAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "generates_tracking_numbers", "tracking_number_pattern", "transit_days", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]

    def get_exclude(self, request, obj=None):
        # The webhook secret is for people who may change carriers.
        return [] if request.user.has_perm("shipping.change_carrier") else ["webhook_secret"]


def _run(modeladmin, request, queryset, name: str, done: str) -> None:
    ok = 0
    for pk in queryset.order_by("pk").values_list("pk", flat=True):
        try:
            shipment_transition(shipment=pk, name=name, actor=request.user)
            ok += 1
        except DomainError as err:
            modeladmin.message_user(request, f"Shipment {pk}: {err.message}", level=messages.ERROR)
    if ok:
        modeladmin.message_user(request, f"{ok} shipment(s) {done}.", level=messages.SUCCESS)


@admin.register(Shipment)
class ShipmentAdmin(TransitionUrlsMixin, FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    fsm_forms = {
        "create_label": "shipping.forms.CreateLabelForm",
        "report_exception": "shipping.forms.ExceptionForm",
        "cancel": "shipping.forms.ReasonForm",
        "pack": "shipping.forms.PackForm",  # one serial field per serial-tracked line: see fsm_transition_view
    }
    list_display = ["id", "order", "warehouse", "carrier", "tracking_number", "status", "created_at",
                    "label_created_at", "scan_overdue"]
    list_filter = ["status", "carrier", "warehouse", ("created_at", admin.DateFieldListFilter), OverdueScanFilter,
                   OrderChannelFilter]
    list_select_related = ["order", "warehouse", "carrier"]
    search_fields = ["=tracking_number", "=order__number"]
    search_help_text = "Exact tracking number or order number."
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["mark_picked", "mark_packed", "mark_picked_up"]
    readonly_fields = ["order", "warehouse", "carrier", "tracking_number", "status", "exception_reason",
                       "expected_delivery", "created_by", "created_at", "label_created_at", "shipped_at",
                       "last_scan_at", "delivered_at", "tracking_link"]
    fields = readonly_fields
    inlines = [ShipmentLineInline, ShipmentUnitInline, ShipmentEventInline]

    def has_add_permission(self, request):
        return False  # shipments are created from a packed order (Orders → "Create shipments")

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(boolean=True, description="no scan")
    def scan_overdue(self, obj: Shipment) -> bool:
        if obj.status != Shipment.Status.LABEL_CREATED or obj.last_scan_at or not obj.label_created_at:
            return False
        return (timezone.now() - obj.label_created_at).total_seconds() > overdue_hours() * 3600

    @admin.display(description="tracking")
    def tracking_link(self, obj: Shipment) -> str:
        if not obj.tracking_number:
            return "—"
        url = obj.tracking_url or reverse("shipping:track", args=[obj.tracking_number])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.action(description="Mark selected shipments picked", permissions=["change"])
    def mark_picked(self, request, queryset):
        _run(self, request, queryset, "pick", "marked picked")

    @admin.action(description="Mark selected shipments packed", permissions=["change"])
    def mark_packed(self, request, queryset):
        _run(self, request, queryset, "pack", "marked packed")

    @admin.action(description="Mark selected shipments picked up by the carrier", permissions=["change"])
    def mark_picked_up(self, request, queryset):
        _run(self, request, queryset, "hand_over", "handed to the carrier")

    # Every lifecycle button goes through the service: row locks, stock effects, both timelines.
    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        data = dict(kwargs or {})
        carrier = data.pop("carrier", None)
        try:
            shipment_transition(shipment=obj.pk, name=transition_name, actor=request.user,
                                carrier=carrier, **data)
        except DomainError as err:
            self.message_user(request, err.message, level=messages.ERROR)
            return False
        obj.refresh_from_db()
        self.message_user(request, f"Shipment {obj.pk} is now {obj.get_status_display().lower()}.",
                          level=messages.SUCCESS)
        return True

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        if transition_name == "pack":
            return self.pack_view(request, object_id)
        return super().fsm_transition_view(request, object_id, transition_name, **kwargs)

    def pack_view(self, request, object_id):
        """Pack a shipment: scan the serial number of every unit of its serial-tracked lines (a barcode scanner
        types a serial and Enter, which starts the next line of the field)."""
        shipment = self.get_object(request, unquote(object_id))
        if shipment is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, shipment):
            raise PermissionDenied
        lines = list(shipment.lines.select_related("order_line__product").order_by("pk"))
        form = PackForm(request.POST if request.method == "POST" else None, lines=lines)
        change_page = reverse("admin:shipping_shipment_change", args=[shipment.pk])
        if not form.tracked or (request.method == "POST" and form.is_valid()):
            try:
                shipment_transition(shipment=shipment.pk, name="pack", actor=request.user,
                                    serials=form.serials() if form.tracked else {})
            except DomainError as err:
                if not form.tracked:  # nothing to scan: the refusal goes back to the shipment's page
                    self.message_user(request, err.message, level=messages.ERROR)
                    return HttpResponseRedirect(change_page)
                form.add_domain_error(err)
            else:
                self.message_user(request, f"Shipment {shipment.pk} is packed.", level=messages.SUCCESS)
                return HttpResponseRedirect(change_page)
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "original": shipment,
            "title": f"Pack shipment {shipment.pk} ({shipment.order.number})", "form": form,
            "change_page": change_page,
        }
        return TemplateResponse(request, "admin/shipping/shipment/pack.html", context)

    def get_urls(self):
        return [
            path("create-for-order/<str:number>/", self.admin_site.admin_view(self.create_for_order_view),
                 name="shipping_shipment_create_for_order"),
            path("reship/<str:number>/", self.admin_site.admin_view(self.reship_view),
                 name="shipping_shipment_reship"),
            path("pick-list/<str:number>/", self.admin_site.admin_view(self.order_pick_list_view),
                 name="shipping_shipment_order_pick_list"),
            path("pack-station/", self.admin_site.admin_view(self.pack_station_view),
                 name="shipping_shipment_pack_station"),
            path("pack-station/<int:pk>/", self.admin_site.admin_view(self.pack_parcel_view),
                 name="shipping_shipment_pack_parcel"),
            path("<int:pk>/label/", self.admin_site.admin_view(self.label_view), name="shipping_shipment_label"),
            *super().get_urls(),
        ]

    # --- the pack station: a scanner and Enter are all it needs ---------------------------------------------

    def _packer(self, request):
        if not (request.user.has_perm("shipping.change_shipment")
                and request.user.has_perm("shipping.transition_shipment")):
            raise PermissionDenied

    def pack_station_view(self, request):
        """Scan a parcel (its number on the packing slip) or an order number to start packing it."""
        self._packer(request)
        error = ""
        if request.method == "POST":
            code = request.POST.get("code", "")
            parcel = parcel_for_scan(code)
            if parcel is not None:
                return HttpResponseRedirect(reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk]))
            error = (f"No parcel waiting to be packed is called {' '.join(code.split())[:40] or 'that'}: scan the "
                     "parcel number on the packing slip, or the order number.")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Pack station",
                   "error": error, "just_packed": _just_packed(request)}
        return TemplateResponse(request, "admin/shipping/shipment/pack_station.html", context,
                                status=422 if error else 200)

    def pack_parcel_view(self, request, pk: int):
        """Scan each item of the parcel (a wrong or extra one is refused at once), then weigh it, choose its
        size and print its label in one step."""
        self._packer(request)
        parcel = get_object_or_404(Shipment.objects.select_related("order", "warehouse", "carrier"), pk=pk,
                                   direction=Shipment.Direction.OUTBOUND)
        key = f"pack:{parcel.pk}"
        scans = list(request.session.get(key, []))
        here = reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk])
        if parcel.status not in PACKABLE:
            request.session.pop(key, None)
            self.message_user(request, f"Parcel {parcel.pk} is {parcel.get_status_display().lower()}: nothing to "
                              "pack.", level=messages.WARNING)
            return HttpResponseRedirect(reverse("admin:shipping_shipment_pack_station"))
        lines = pack_lines(parcel, scans)
        error, form = "", PackStationForm(initial={"carrier": parcel.carrier.code if parcel.carrier_id else ""})
        status = 200
        if request.method == "POST":
            action = request.POST.get("action", "scan")
            if action == "scan":
                try:
                    scans.append(pack_scan(lines, request.POST.get("code", ""), warehouse_id=parcel.warehouse_id))
                except ScanRefused as refused:
                    error, status = refused.message, 422
                else:
                    request.session[key] = scans
                    if not request.htmx:
                        return HttpResponseRedirect(here)
            elif action == "undo" and scans:
                scans.pop()
                request.session[key] = scans
                if not request.htmx:
                    return HttpResponseRedirect(here)
            elif action == "pack":
                form = PackStationForm(request.POST)
                if form.is_valid():
                    serials = {line.line_id: line.scanned for line in lines if line.tracked}
                    if not all(line.done for line in lines):
                        error, status = "Scan every item before packing.", 422
                    else:
                        try:
                            done = shipment_pack_and_label(
                                shipment=parcel.pk, serials=serials, actor=request.user,
                                weight_grams=form.cleaned_data["weight_grams"],
                                parcel_size=form.cleaned_data["parcel_size"],
                                carrier=form.cleaned_data["carrier"] or None,
                                tracking_number=form.cleaned_data["tracking_number"])
                        except DomainError as err:
                            error, status = err.message, 422
                        else:
                            request.session.pop(key, None)
                            request.session["pack:last"] = done.pk
                            return HttpResponseRedirect(reverse("admin:shipping_shipment_pack_station"))
                else:
                    status = 422
        lines = pack_lines(parcel, scans)
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "parcel": parcel, "lines": lines,
            "title": f"Pack parcel {parcel.pk} · {parcel.order.number}", "error": error, "form": form,
            "complete": all(line.done for line in lines), "scanned": sum(len(line.scanned) for line in lines),
            "units": sum(line.quantity for line in lines),
        }
        if request.htmx and request.POST.get("action") in ("scan", "undo"):
            # htmx swaps 2xx answers only: a refused scan is drawn as the station's error, answered 200
            return TemplateResponse(request, "admin/shipping/shipment/pack_parcel.html#station", context)
        return TemplateResponse(request, "admin/shipping/shipment/pack_parcel.html", context, status=status)

    def label_view(self, request, pk: int):
        if not request.user.has_perm("shipping.view_shipment"):
            raise PermissionDenied
        parcel = get_object_or_404(Shipment.objects.select_related("order", "warehouse", "carrier"), pk=pk)
        if not parcel.tracking_number:
            self.message_user(request, f"Parcel {parcel.pk} has no label yet.", level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:shipping_shipment_change", args=[parcel.pk]))
        return _pdf_response(shipping_label_pdf(shipment=parcel), f"label-{parcel.tracking_number}.pdf")

    def order_pick_list_view(self, request, number: str):
        """The pick list of one order (the order page's "Print pick list")."""
        if not request.user.has_perm("orders.view_order"):
            raise PermissionDenied
        order = get_object_or_404(Order, number=number)
        return _pdf_response(pick_list_pdf(order_ids=[order.pk]), f"pick-list-{order.number}.pdf")

    def reship_view(self, request, number: str):
        """A parcel came back to sender: send the order's returned units again in new shipments."""
        if not request.user.has_perm("shipping.add_shipment"):
            raise PermissionDenied
        order = get_object_or_404(Order, number=number)
        returned = order.shipments.filter(status=Shipment.Status.RETURNED).select_related("carrier").first()
        lines = {line.pk: line for line in order.lines.all()}
        rows = [{"line": lines[line_id], "quantity": qty} for line_id, qty in order_units_to_send(order).items()]
        if request.method == "POST":
            try:
                created = shipment_reship(order=order.number, carrier=request.POST.get("carrier") or None,
                                          actor=request.user, reason=request.POST.get("reason", "")[:500])
            except DomainError as err:
                self.message_user(request, err.message, level=messages.ERROR)
            else:
                self.message_user(request, f"{order.number}: sent again in {len(created)} new shipment(s).",
                                  level=messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"Send {order.number} again",
            "order": order, "rows": rows, "returned": returned, "carriers": Carrier.objects.filter(active=True),
        }
        return TemplateResponse(request, "admin/shipping/shipment/reship.html", context)

    def create_for_order_view(self, request, number: str):
        """Choose the lines (and quantities per warehouse) of a packed order to put in shipments."""
        if not self.has_change_permission(request) or not request.user.has_perm("shipping.add_shipment"):
            raise PermissionDenied
        order = get_object_or_404(Order, number=number)
        shippable = shippable_quantities(order_id=order.pk)
        lines = {line.pk: line for line in order.lines.all()}
        warehouses = Warehouse.objects.in_bulk({wh for _, wh in shippable})
        rows = [{"line": lines[line_id], "warehouse": warehouses[wh_id], "available": qty,
                 "field": f"qty_{line_id}_{wh_id}"}
                for (line_id, wh_id), qty in sorted(shippable.items())]
        carriers = Carrier.objects.filter(active=True)
        if request.method == "POST":
            items, bad = [], False
            for row in rows:
                raw = (request.POST.get(row["field"]) or "0").strip()
                if not raw.isdigit():
                    bad = True
                    continue
                if int(raw):
                    items.append((row["line"].pk, row["warehouse"].pk, int(raw)))
            carrier = request.POST.get("carrier") or None
            if bad:
                self.message_user(request, "Quantities are whole numbers.", level=messages.ERROR)
            else:
                try:
                    created = shipment_create_for_lines(order=order.number, items=items, carrier=carrier,
                                                        actor=request.user)
                except DomainError as err:
                    self.message_user(request, err.message, level=messages.ERROR)
                else:
                    self.message_user(request, f"{order.number}: {len(created)} shipment(s) created; pick and "
                                      "pack them next.", level=messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"Ship {order.number}",
            "order": order, "rows": rows, "carriers": carriers,
        }
        return TemplateResponse(request, "admin/shipping/shipment/create_for_order.html", context)


class ShipmentInline(ReadOnlyTabularInline):
    model = Shipment
    fields = ["warehouse", "carrier", "tracking_number", "status", "created_at", "shipped_at", "delivered_at"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse", "carrier")


# --- actions on the order admin: registered through orders.admin.order_admin_extensions (ShippingConfig.ready) ---

def _pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


BULK_SHIPMENTS_AT_ONCE = 20  # more are made by a worker
BULK_SHIPMENTS_MAX = 5000


@admin.action(description="Create shipments (choose lines for one order; everything for several)")
def create_shipments(modeladmin, request, queryset):
    if not request.user.has_perm("shipping.add_shipment"):
        modeladmin.message_user(request, "You may not create shipments.", level=messages.ERROR)
        return None
    numbers = list(queryset.order_by("pk").values_list("number", flat=True)[:BULK_SHIPMENTS_MAX])
    if len(numbers) == 1:
        return HttpResponseRedirect(reverse("admin:shipping_shipment_create_for_order", args=[numbers[0]]))
    if len(numbers) > BULK_SHIPMENTS_AT_ONCE:  # many: a worker makes them, the job's page shows how far it got
        from orders.exports import job_start

        job = job_start(kind="shipments", params={"orders": numbers}, total=len(numbers), actor=request.user)
        modeladmin.message_user(request, f"Shipments for {len(numbers)} orders are being made in the background.",
                                level=messages.INFO)
        return HttpResponseRedirect(reverse("admin:orders_exportjob_change", args=[job.pk]))
    total = 0
    for number in numbers:
        try:
            total += len(shipment_create_all(order=number, actor=request.user))
        except DomainError as err:
            modeladmin.message_user(request, f"{number}: {err.message}", level=messages.ERROR)
    if total:
        modeladmin.message_user(request, f"{total} shipment(s) created.", level=messages.SUCCESS)
    return None


@admin.action(description="Print pick list (PDF)")
def print_pick_list(modeladmin, request, queryset):
    ids = list(queryset.values_list("pk", flat=True))
    return _pdf_response(pick_list_pdf(order_ids=ids), f"pick-list-{timezone.now():%Y%m%d-%H%M}.pdf")


@admin.action(description="Print packing slips (PDF, one page per shipment)")
def print_packing_slips(modeladmin, request, queryset):
    orders = dict(queryset.order_by("pk").values_list("pk", "number"))
    with_parcels = set(Shipment.objects.filter(order_id__in=orders, direction=Shipment.Direction.OUTBOUND)
                       .exclude(status=Shipment.Status.CANCELLED).values_list("order_id", flat=True))
    missing = [number for pk, number in orders.items() if pk not in with_parcels]
    if missing:  # a packing slip belongs to a parcel: say which orders have none yet instead of leaving them out
        listed = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        modeladmin.message_user(request, f"No packing slip for {listed}: create their shipments first.",
                                level=messages.WARNING)
    if not with_parcels:
        return None
    return _pdf_response(packing_slips_pdf(order_ids=sorted(with_parcels)),
                         f"packing-slips-{timezone.now():%Y%m%d-%H%M}.pdf")


def order_parcels_section(request, order: Order) -> dict:
    """The order page's "Parcels" block (orders.admin's extension hook): every parcel with its carrier, tracking
    and what to do with it next, in two queries."""
    parcels = list(Shipment.objects.filter(order=order).select_related("carrier", "warehouse")
                   .prefetch_related(Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line")))
                   .order_by("created_at", "pk"))
    may_move = request.user.has_perm("shipping.change_shipment")
    actions = []
    for parcel in parcels:
        parcel.next_step = PARCEL_NEXT_STEP.get(parcel.status, "") if not parcel.is_return else ""
        parcel.admin_url = reverse("admin:shipping_shipment_change", args=[parcel.pk])
        parcel.next_url = _parcel_next_url(parcel)
        parcel.public_url = parcel.tracking_url or (
            reverse("shipping:track", args=[parcel.tracking_number]) if parcel.tracking_number else "")
        if parcel.next_step and may_move and parcel.status in Shipment.OPEN:
            actions.append({"label": f"Parcel {parcel.pk}: {parcel.next_step.lower()}", "url": parcel.next_url,
                            "primary": order.status in (Order.Status.PROCESSING, Order.Status.PACKED,
                                                        Order.Status.PARTIALLY_SHIPPED)})
    return {"parcels": parcels, "actions": actions}


def _parcel_next_url(parcel: Shipment) -> str:
    """Where a parcel's next step happens: the pack station (scan, weigh, label in one go), the label form, or the
    parcel's page (hand over)."""
    if parcel.status in (Shipment.Status.PENDING, Shipment.Status.PICKED):
        return reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk])
    if parcel.status == Shipment.Status.PACKED:
        return reverse("admin:shipping_shipment_transition", args=[parcel.pk, "create_label"])
    return reverse("admin:shipping_shipment_change", args=[parcel.pk])


PARCEL_NEXT_STEP = {
    Shipment.Status.PENDING: "Pick and pack it",
    Shipment.Status.PICKED: "Pack it",
    Shipment.Status.PACKED: "Create its label",
    Shipment.Status.LABEL_CREATED: "Hand it to the carrier",
    Shipment.Status.EXCEPTION: "See what the carrier reported",
}




# --- the fulfilment queue and pick waves --------------------------------------------------------------------

@admin.register(FulfilmentQueue)
class FulfilmentQueueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """One page per warehouse: orders to pick (select many → one wave), parcels to pack and to send, parcels that
    came back. Everything on it links to the step that moves the work on."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("shipping.view_shipment")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        warehouses = list(Warehouse.objects.filter(active=True).order_by("priority", "code"))
        if not warehouses:
            self.message_user(request, "There is no active warehouse yet: add one under Inventory → Warehouses.",
                              level=messages.WARNING)
            return HttpResponseRedirect(reverse("admin:index"))
        counts = fulfilment_counts()
        chosen = request.GET.get("warehouse") or request.POST.get("warehouse") or ""
        warehouse = next((w for w in warehouses if w.code == chosen), None) or next(
            (w for w in warehouses if counts.get(w.pk)), warehouses[0])
        if request.method == "POST":
            return self._make_wave(request, warehouse)
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": f"Fulfilment queue · {warehouse}",
            "warehouse": warehouse, "queue": fulfilment_queue(warehouse_id=warehouse.pk),
            "tabs": [{"warehouse": w, "count": counts.get(w.pk, 0), "current": w.pk == warehouse.pk}
                     for w in warehouses],
            "carriers": Carrier.objects.filter(active=True), "page_size": QUEUE_PAGE,
            "may_pick": request.user.has_perm("shipping.add_shipment"),
            "may_refund": request.user.has_perm("returns.refund_returnrequest"),
        }
        return TemplateResponse(request, "admin/shipping/fulfilmentqueue/queue.html", context)

    def _make_wave(self, request, warehouse):
        if not request.user.has_perm("shipping.add_shipment"):
            raise PermissionDenied
        back = reverse("admin:shipping_fulfilmentqueue_changelist") + f"?warehouse={warehouse.code}"
        numbers = [n for n in request.POST.getlist("order")[:QUEUE_PAGE] if n]
        try:
            wave, left_out = wave_create(warehouse=warehouse, orders=numbers,
                                         carrier=request.POST.get("carrier") or None, actor=request.user)
        except DomainError as err:
            self.message_user(request, err.message, level=messages.ERROR)
            return HttpResponseRedirect(back)
        for number, why in left_out.items():
            self.message_user(request, f"{number} left out: {why}", level=messages.WARNING)
        self.message_user(request, f"Wave {wave.pk}: {wave.shipments.count()} parcel(s) to pick. Print the pick "
                          "list, then pack each parcel.", level=messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:shipping_pickwave_change", args=[wave.pk]))


@admin.register(PickWave)
class PickWaveAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # waves are made from the fulfilment queue
    list_display = ["__str__", "warehouse", "created_by", "created_at", "parcels"]
    list_filter = ["warehouse"]
    list_select_related = ["warehouse", "created_by"]
    change_form_template = "admin/shipping/pickwave/change_form.html"
    readonly_fields = ["warehouse", "created_by", "created_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(parcel_count=Count("shipments"))

    @admin.display(description="parcels")
    def parcels(self, obj) -> int:
        return obj.parcel_count

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("shipping.view_shipment")

    def has_module_permission(self, request):
        return False  # reached from the fulfilment queue

    def get_urls(self):
        return [path("<int:pk>/pick-list/", self.admin_site.admin_view(self.pick_list_view),
                     name="shipping_pickwave_pick_list"), *super().get_urls()]

    def pick_list_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        wave = get_object_or_404(PickWave.objects.select_related("warehouse"), pk=pk)
        return _pdf_response(pick_list_pdf(wave=wave), f"pick-list-wave-{wave.pk}.pdf")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            parcels = list(obj.shipments.select_related("order", "carrier").prefetch_related(
                Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line"))).order_by("pk"))
            for parcel in parcels:
                parcel.next_step = PARCEL_NEXT_STEP.get(parcel.status, "")
                parcel.next_url = _parcel_next_url(parcel)
            context.update(parcels=parcels, title=f"Pick wave {obj.pk} · {obj.warehouse.code}",
                           queue_url=reverse("admin:shipping_fulfilmentqueue_changelist")
                           + f"?warehouse={obj.warehouse.code}")
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
