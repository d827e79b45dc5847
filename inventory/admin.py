from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from simple_history.admin import SimpleHistoryAdmin

from config.admin import AppendOnlyAdmin, ReadOnlyTabularInline
from config.errors import DomainError

from .models import LowStockAlert, Product, StockLevel, StockMovement, Unit, UnitEvent, Warehouse
from .selectors import serial_lookup_value
from .services import stock_adjust, stock_receive


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):  # History: every price, name and on-sale change, and who made it
    list_display = ["sku", "name", "price", "active", "low_stock_threshold", "serial_tracked", "serial_format"]
    list_filter = ["active", "serial_tracked", "serial_format"]
    search_fields = ["sku", "name"]
    list_editable = ["active"]

    def has_delete_permission(self, request, obj=None):
        return False  # orders and the ledger refer to products; deactivate instead


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "priority", "active"]
    list_editable = ["priority", "active"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        return False


class StockChangeForm(forms.Form):
    quantity = forms.IntegerField(
        help_text="Receive: units that arrived (above zero). Adjust: the change, negative to remove units.",
    )
    reason = forms.CharField(max_length=255, required=False, help_text="Required for adjustments.")
    write_off = forms.BooleanField(required=False, help_text="Adjust only: units are damaged or lost.")


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = ["product", "warehouse", "on_hand", "allocated", "available_units", "updated_at"]
    list_filter = ["warehouse"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "warehouse"]
    actions = ["receive_stock", "adjust_stock"]
    readonly_fields = ["product", "warehouse", "on_hand", "allocated", "updated_at"]

    @admin.display(description="available")
    def available_units(self, obj):
        return obj.available

    def has_add_permission(self, request):
        return False  # levels appear when stock is received

    def has_delete_permission(self, request, obj=None):
        return False

    def _stock_action(self, request, queryset, *, title, apply):
        if "apply" in request.POST:
            form = StockChangeForm(request.POST)
            if form.is_valid():
                done, failed = 0, []
                for level in queryset.select_related("product", "warehouse"):
                    try:
                        apply(level, form.cleaned_data)
                        done += 1
                    except DomainError as err:
                        failed.append(f"{level}: {err.message}")
                if done:
                    self.message_user(request, f"{title}: {done} stock level(s) updated.", messages.SUCCESS)
                for message in failed:
                    self.message_user(request, message, messages.ERROR)
                return redirect(request.get_full_path())
        else:
            form = StockChangeForm()
        context = {**self.admin_site.each_context(request), "title": title, "form": form, "levels": queryset,
                   "action": request.POST.get("action"), "opts": self.model._meta,
                   "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return render(request, "admin/inventory/stocklevel/stock_change.html", context)

    @admin.action(description="Receive stock into selected levels", permissions=["change"])
    def receive_stock(self, request, queryset):
        return self._stock_action(request, queryset, title="Receive stock", apply=lambda level, data: stock_receive(
            product=level.product, warehouse=level.warehouse, quantity=data["quantity"], actor=request.user,
            reason=data["reason"]))

    @admin.action(description="Adjust or write off stock in selected levels", permissions=["change"])
    def adjust_stock(self, request, queryset):
        return self._stock_action(request, queryset, title="Adjust stock", apply=lambda level, data: stock_adjust(
            product=level.product, warehouse=level.warehouse, delta=data["quantity"], reason=data["reason"],
            write_off=data["write_off"], actor=request.user))


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
