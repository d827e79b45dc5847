from django.contrib import admin, messages
from django_fsm.admin import FSMAdminMixin

from config.admin import EstimatedCountPaginator
from config.errors import DomainError

from .models import Allocation, Order, OrderEvent, OrderLine
from .selectors import order_filter_by_warehouse
from .services import order_transition


class WarehouseFilter(admin.SimpleListFilter):
    title = "warehouse"
    parameter_name = "warehouse"

    def lookups(self, request, model_admin):
        from inventory.models import Warehouse

        return [(w.code, f"{w.code} · {w.name}") for w in Warehouse.objects.all()]

    def queryset(self, request, queryset):
        return order_filter_by_warehouse(queryset, self.value()) if self.value() else queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["sku", "name", "quantity", "unit_price", "line_total", "shipped_quantity"]
    readonly_fields = fields


class AllocationInline(ReadOnlyInline):
    model = Allocation
    fields = ["line", "warehouse", "quantity", "shipped", "released"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse", "line")


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ["created_at", "kind", "from_status", "to_status", "actor", "reason", "internal"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Order)
class OrderAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    list_display = ["number", "status", "payment_status", "email", "total", "currency", "placed_at"]
    list_filter = ["status", "payment_status", ("placed_at", admin.DateFieldListFilter), WarehouseFilter]
    search_fields = ["=number", "=email"]
    search_help_text = "Exact order number (WB-XXXX-XXXX) or customer email."
    list_select_related = ["customer"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ["customer"]
    readonly_fields = ["number", "status", "customer", "email", "subtotal", "shipping_total", "total", "currency",
                       "payment_status", "placed_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["number", "status", "payment_status", "placed_at", "updated_at"]}),
        ("Customer", {"fields": ["customer", "email", "phone", "notes"]}),
        ("Ship to", {"fields": ["ship_name", "ship_line1", "ship_line2", "ship_city", "ship_postal_code",
                                "ship_region", "ship_country"]}),
        ("Totals", {"fields": ["currency", "subtotal", "shipping_total", "total"]}),
    ]
    inlines = [OrderLineInline, AllocationInline, OrderEventInline]

    def has_add_permission(self, request):
        return False  # orders are placed through the API (or by staff via /api/orders/), which allocates stock

    def has_delete_permission(self, request, obj=None):
        return False

    def _execute_fsm_transition(self, *, transition_func, request, kwargs=None):
        """Every button goes through the service: row lock, stock effects, timeline entry."""
        order = transition_func.__self__
        order_transition(order=order.number, name=transition_func.__name__, actor=request.user,
                         reason=(kwargs or {}).get("reason", ""))
        order.refresh_from_db()

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        try:
            self._execute_fsm_transition(
                transition_func=self._get_fsm_transition_func(obj=obj, transition_name=transition_name),
                request=request, kwargs=kwargs,
            )
        except DomainError as err:
            self.message_user(request, err.message, level=messages.ERROR)
            return False
        label = self.get_fsm_label(self._get_fsm_transition_by_name(obj=obj, transition_name=transition_name))
        self.message_user(request, f"{obj.number}: {label} done; now {obj.get_status_display().lower()}.",
                          level=messages.SUCCESS)
        return True


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    list_display = ["order", "kind", "from_status", "to_status", "actor", "internal", "created_at"]
    list_filter = ["kind", "internal", "to_status"]
    list_select_related = ["order", "actor"]
    search_fields = ["=order__number"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

