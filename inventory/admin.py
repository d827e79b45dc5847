from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from import_export.admin import ImportExportMixin
from simple_history.admin import SimpleHistoryAdmin

from config.admin import AppendOnlyAdmin, ReadOnlyTabularInline
from config.errors import DomainError
from config.formtools import show_domain_error, with_more_rows

from .models import (
    GoodsReceipt,
    GoodsReceiptLine,
    LowStockAlert,
    Product,
    StockLevel,
    StockMovement,
    Unit,
    UnitEvent,
    Warehouse,
)
from .resources import ProductResource, StockLevelResource
from .selectors import serial_lookup_value
from .services import goods_receipt_create, stock_adjust, stock_level_set_bin


@admin.register(Product)
class ProductAdmin(ImportExportMixin, SimpleHistoryAdmin):  # History: every price, name and on-sale change
    resource_classes = [ProductResource]

    def has_import_permission(self, request):
        return request.user.has_perm("inventory.manage_catalogue")  # an import may change prices

    list_display = ["sku", "name", "category", "price", "active", "low_stock_threshold", "serial_tracked",
                    "serial_format"]
    list_filter = ["active", "category", "serial_tracked", "serial_format"]
    search_fields = ["sku", "name"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and request.user.has_perm("inventory.manage_catalogue")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("inventory.manage_catalogue"):
            fields += [f for f in Product.CATALOGUE_FIELDS if f not in fields]
        return fields

    def has_delete_permission(self, request, obj=None):
        return False  # orders and the ledger refer to products; deactivate instead


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "priority", "active"]
    list_editable = ["priority", "active"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Why the count differs: on the ledger line of each change.")
    write_off = forms.BooleanField(required=False, help_text="The units are damaged or lost (a write-off).")


@admin.register(StockLevel)
class StockLevelAdmin(ImportExportMixin, admin.ModelAdmin):
    """Stock counts and bins import here (CSV or XLSX: sku, warehouse, bin, on_hand): each changed count is a
    ledger movement "Stock count import", after a preview of every row."""

    resource_classes = [StockLevelResource]

    def has_import_permission(self, request):
        return request.user.has_perm("inventory.change_stocklevel")

    list_display = ["product", "warehouse", "bin", "on_hand", "allocated", "available_units", "updated_at"]
    list_editable = ["bin"]
    list_filter = ["warehouse"]
    search_fields = ["product__sku", "product__name", "bin"]
    list_select_related = ["product", "warehouse"]
    actions = ["adjust_stock"]
    readonly_fields = ["product", "warehouse", "on_hand", "allocated", "updated_at"]
    fields = ["product", "warehouse", "bin", "on_hand", "allocated", "updated_at"]

    def save_model(self, request, obj, form, change):
        """Only the bin is editable, and only the bin is written (never quantities read when the page loaded)."""
        stock_level_set_bin(stock_level=obj.pk, bin=obj.bin)

    @admin.display(description="available")
    def available_units(self, obj):
        return obj.available

    def has_add_permission(self, request):
        return False  # levels appear when stock is received

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Adjust or write off stock (a change per level)", permissions=["change"])
    def adjust_stock(self, request, queryset):
        """Each selected level gets its own change (blank: unchanged), all with one reason. Receiving goods is a
        goods receipt (Inventory → Goods receipts), with a quantity per product."""
        levels = list(queryset.select_related("product", "warehouse").order_by("pk")[:200])
        form = AdjustReasonForm(request.POST if "apply" in request.POST else None)
        deltas, bad = {}, []
        for level in levels:
            level.entered = request.POST.get(f"quantity_{level.pk}", "")[:12]
        if "apply" in request.POST:
            for level in levels:
                raw = (request.POST.get(f"quantity_{level.pk}") or "").strip()
                if raw:
                    try:
                        deltas[level.pk] = int(raw)
                    except ValueError:
                        bad.append(level)
            if not bad and form.is_valid():
                done, failed = 0, []
                for level in levels:
                    if not deltas.get(level.pk):
                        continue
                    try:
                        stock_adjust(product=level.product, warehouse=level.warehouse, delta=deltas[level.pk],
                                     reason=form.cleaned_data["reason"], write_off=form.cleaned_data["write_off"],
                                     actor=request.user)
                        done += 1
                    except DomainError as err:
                        failed.append(f"{level}: {err.message}")
                if done:
                    self.message_user(request, f"Adjust stock: {done} stock level(s) updated.", messages.SUCCESS)
                for message in failed:
                    self.message_user(request, message, messages.ERROR)
                if not done and not failed:
                    self.message_user(request, "Nothing changed: enter a change for at least one level.",
                                      messages.WARNING)
                return redirect(request.get_full_path())
            if "reason" in form.errors:
                self.message_user(request, "A reason is required: the ledger must say why stock changed.",
                                  messages.ERROR)
        context = {**self.admin_site.each_context(request), "title": "Adjust stock", "form": form,
                   "levels": levels, "bad": {level.pk for level in bad},
                   "action": request.POST.get("action"), "opts": self.model._meta,
                   "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return render(request, "admin/inventory/stocklevel/stock_change.html", context)


@admin.register(StockMovement)
class StockMovementAdmin(AppendOnlyAdmin):
    list_display = ["created_at", "kind", "product", "warehouse", "quantity", "on_hand_delta", "allocated_delta",
                    "reference_label", "actor", "reason"]
    list_filter = ["kind", "warehouse", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=product__sku", "=reference_label"]
    list_select_related = ["product", "warehouse", "actor"]


@admin.register(LowStockAlert)
class LowStockAlertAdmin(admin.ModelAdmin):
    list_display = ["product", "available", "threshold", "created_at", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["product"]
    readonly_fields = ["product", "available", "threshold", "created_at", "resolved_at"]

    def has_add_permission(self, request):
        return False


class UnitEventInline(ReadOnlyTabularInline):
    model = UnitEvent
    verbose_name = "history entry"
    verbose_name_plural = "history"
    fields = ["created_at", "kind", "status", "warehouse", "order_number", "replacement", "reference_label", "text",
              "actor"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse", "actor")


@admin.register(Unit)
class UnitAdmin(AppendOnlyAdmin):
    """Serial-numbered units and their history: written by the shipping and returns services, read here."""

    list_display = ["serial", "product", "status", "warehouse", "batch", "updated_at"]
    list_filter = ["status", "warehouse", "product__serial_format"]
    list_select_related = ["product", "warehouse"]
    search_fields = ["=serial", "=events__order_number"]
    search_help_text = "Exact serial number (IMEI), or the order number a unit went out with."
    fields = ["product", "serial", "status", "warehouse", "batch", "created_at", "updated_at"]
    readonly_fields = fields
    inlines = [UnitEventInline]

    def has_change_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        term = serial_lookup_value(search_term)
        if term is None:  # nothing a serial or an order number can be (control characters, say): no match
            return queryset.none(), False
        queryset, _ = super().get_search_results(request, queryset, term)
        return queryset.distinct(), False


# --- goods receipts ------------------------------------------------------------------------------------------

class ReceiptHeaderForm(forms.Form):
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.filter(active=True), to_field_name="code")
    supplier = forms.CharField(max_length=200)
    reference = forms.CharField(max_length=100, required=False, label="Delivery note",
                                help_text="The supplier's delivery note number: a note is booked once only.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=4000)


class ReceiptLineForm(forms.Form):
    sku = forms.CharField(max_length=64, required=False, label="SKU",
                          widget=forms.TextInput(attrs={"autocomplete": "off", "list": "receipt-skus"}))
    quantity = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)
    serials = forms.CharField(required=False, max_length=100_000, label="Serial numbers",
                              widget=forms.Textarea(attrs={"rows": 1, "placeholder": "One per line, for products "
                                                           "with serial numbers", "spellcheck": "false"}))

    def clean(self):
        data = super().clean()
        if data.get("sku") and not data.get("quantity"):
            self.add_error("quantity", "How many arrived?")
        if data.get("quantity") and not data.get("sku"):
            self.add_error("sku", "Which product?")
        return data


ReceiptLineFormSet = forms.formset_factory(ReceiptLineForm, extra=0, min_num=1, max_num=500, absolute_max=500)


class GoodsReceiptLineInline(ReadOnlyTabularInline):
    model = GoodsReceiptLine
    fields = ["product", "quantity", "serial_numbers"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    @admin.display(description="serial numbers")
    def serial_numbers(self, obj) -> str:
        return ", ".join(obj.serials) or "—"


@admin.register(GoodsReceipt)
class GoodsReceiptAdmin(admin.ModelAdmin):
    list_display = ["__str__", "warehouse", "supplier", "reference", "received_at", "received_by"]
    list_filter = ["warehouse", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["supplier", "reference"]
    list_select_related = ["warehouse", "received_by"]
    readonly_fields = ["warehouse", "supplier", "reference", "note", "received_by", "received_at"]
    fields = readonly_fields
    inlines = [GoodsReceiptLineInline]

    def has_change_permission(self, request, obj=None):
        return False  # booked is booked: a correction is a stock adjustment with its reason

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        """Book a delivery: who sent it, its delivery note, and one line per product with its own quantity (and
        the serials of serial-tracked units); all through inventory.services.goods_receipt_create."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        rows = 8
        posted = request.method == "POST"
        data = request.POST
        more = posted and "more" in request.POST  # eight more blank lines, keeping what was entered
        if more:  # nothing is checked yet: the header keeps its values unbound, so it shows no errors
            data = with_more_rows(request.POST, prefix="line", more=8, limit=500)
            header = ReceiptHeaderForm(initial={k: data.get(k, "") for k in ReceiptHeaderForm.base_fields})
        else:
            header = ReceiptHeaderForm(data if posted else None,
                                       initial={"warehouse": request.GET.get("warehouse", "")})
        lines = ReceiptLineFormSet(data if posted else None, prefix="line", initial=[{} for _ in range(rows)])
        if posted and not more and header.is_valid() and lines.is_valid():
            entered = [(i, form.cleaned_data) for i, form in enumerate(lines.forms)
                       if form.cleaned_data.get("sku")]
            try:
                receipt = goods_receipt_create(
                    warehouse=header.cleaned_data["warehouse"], supplier=header.cleaned_data["supplier"],
                    reference=header.cleaned_data["reference"], note=header.cleaned_data["note"], actor=request.user,
                    lines=[{"sku": d["sku"], "quantity": d["quantity"], "serials": d["serials"].splitlines()}
                           for _, d in entered])
            except DomainError as err:
                show_domain_error(err, form=header, line_forms=lines.forms, entered=[i for i, _ in entered])
            else:
                units = sum(line.quantity for line in receipt.lines.all())
                self.message_user(request, f"{receipt}: {units} unit(s) booked in at {receipt.warehouse.code}.",
                                  messages.SUCCESS)
                return redirect(reverse("admin:inventory_goodsreceipt_change", args=[receipt.pk]))
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Book a goods receipt",
            "header": header, "lines": lines,
            "skus": Product.objects.filter(active=True).order_by("sku").values_list("sku", "name")[:2000],
        }
        return TemplateResponse(request, "admin/inventory/goodsreceipt/receive.html", context)
