from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django_fsm.admin import FSMAdminMixin

from config.admin import (
    AdminExtensions,
    AppendOnlyAdmin,
    EstimatedCountPaginator,
    ReadOnlyTabularInline,
    TransitionUrlsMixin,
)
from config.errors import DomainError

from .models import Allocation, Order, OrderEvent, OrderLine
from .selectors import order_filter_by_warehouse
from .services import order_add_note, order_transition

# Other apps add actions, inlines and buttons to the order page here, from their AppConfig.ready():
#     order_admin_extensions.add_action(create_shipments)          # an @admin.action function
#     order_admin_extensions.add_inline(ShipmentInline)
#     order_admin_extensions.add_button(AdminButton("Start a return", url=lambda order: ..., permission="...",
#                                                   show=lambda order: order.status == "delivered"))
order_admin_extensions = AdminExtensions()


class WarehouseFilter(admin.SimpleListFilter):
    title = "warehouse"
    parameter_name = "warehouse"

    def lookups(self, request, model_admin):
        from inventory.models import Warehouse

        return [(w.code, f"{w.code} · {w.name}") for w in Warehouse.objects.all()]

    def queryset(self, request, queryset):
        return order_filter_by_warehouse(queryset, self.value()) if self.value() else queryset


class OrderLineInline(ReadOnlyTabularInline):
    model = OrderLine
    fields = ["sku", "name", "quantity", "unit_price", "line_total", "shipped_quantity"]
    readonly_fields = fields


class AllocationInline(ReadOnlyTabularInline):
    model = Allocation
    fields = ["line", "warehouse", "quantity", "shipped", "released"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse", "line")


class OrderEventInline(ReadOnlyTabularInline):
    model = OrderEvent
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ["created_at", "kind_label", "from_status", "to_status", "actor", "text", "facts", "internal"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="kind")
    def kind_label(self, obj: OrderEvent) -> str:
        return obj.kind_label

    @admin.display(description="facts")
    def facts(self, obj: OrderEvent) -> str:
        return ", ".join(f"{k}: {v}" for k, v in (obj.data or {}).items()) or "—"


class OrderNoteForm(forms.Form):
    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)
    internal = forms.BooleanField(
        label="Internal", required=False, initial=True,
        help_text="Staff only: never shown to the customer. Untick to put the note on the customer's timeline.",
    )


@admin.register(Order)
class OrderAdmin(TransitionUrlsMixin, FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    change_form_template = "admin/orders/order/change_form.html"  # the FSM buttons plus "Add note"
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

    def get_actions(self, request):
        return {**super().get_actions(request), **order_admin_extensions.actions_for(self, request)}

    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), *order_admin_extensions.inlines]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        name = request.POST.get(self.fsm_post_param) if request.method == "POST" else None
        if name:
            return self._transition_button_pressed(request, object_id, name)
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["extension_buttons"] = order_admin_extensions.buttons_for(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _transition_button_pressed(self, request, object_id, name):
        """A lifecycle button: only the transition happens (other edits on the page need Save).

        Staff who may only view orders (support agents) can still use the buttons their permissions allow;
        the service checks the transition's permission under the row lock.
        """
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, order):
            raise PermissionDenied
        change_page = add_preserved_filters(
            {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}, request.path
        )
        try:
            transition = self._get_fsm_transition_by_name(obj=order, transition_name=name)
        except (AttributeError, TypeError, ValueError):
            self.message_user(request, f"There is no transition called {name!r}.", messages.ERROR)
            return redirect(change_page)
        if self.get_fsm_transition_form(transition):
            return redirect(reverse("admin:orders_order_transition", args=[order.pk, name]))
        self._apply_fsm_transition(obj=order, transition_name=name, request=request)
        return redirect(change_page)

    def get_urls(self):
        return [
            path("<path:object_id>/note/", self.admin_site.admin_view(self.note_view), name="orders_order_note"),
            *super().get_urls(),
        ]

    def note_view(self, request, object_id):
        """A note on the order's timeline, written by orders.services.order_add_note."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not (self.has_view_permission(request, order) and request.user.has_perm("orders.add_internal_note")):
            raise PermissionDenied
        form = OrderNoteForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                order_add_note(order=order.number, author=request.user, text=form.cleaned_data["text"],
                               internal=form.cleaned_data["internal"])
            except DomainError as err:
                form.add_error("text", err.message)
            else:
                kind = "internal note" if form.cleaned_data["internal"] else "note for the customer"
                self.message_user(request, f"{order.number}: {kind} added to the timeline.", messages.SUCCESS)
                return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Add a note to {order.number}",
            "opts": self.opts,
            "original": order,
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": ["text", "internal"]})], {}, model_admin=self),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/orders/order/add_note.html", context)

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
class OrderEventAdmin(AppendOnlyAdmin):
    list_display = ["order", "kind", "from_status", "to_status", "actor", "internal", "created_at"]
    list_filter = ["kind", "internal", "to_status"]
    readonly_fields = ["order", "kind", "from_status", "to_status", "transition", "actor", "text", "data", "internal",
                       "created_at"]
    list_select_related = ["order", "actor"]
    search_fields = ["=order__number"]

