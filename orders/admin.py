import hashlib
import json
import secrets

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm.admin import FSMAdminMixin
from simple_history.admin import SimpleHistoryAdmin

from config.admin import (
    AdminExtensions,
    AppendOnlyAdmin,
    EstimatedCountPaginator,
    ReadOnlyAdminMixin,
    TransitionUrlsMixin,
)
from config.errors import DomainError
from config.formtools import show_domain_error, with_more_rows

from .documents import invoice_pdf, invoices_pdf
from .drafts import draft_from_form, draft_to_form, order_draft_save
from .exports import INVOICES_PER_FILE, export_job_start, export_params_from_admin, invoice_job_start
from .forms import AddressForm, OrderLineFormSet, PaymentForm, PhoneOrderForm
from .imports import COLUMNS as ORDER_IMPORT_COLUMNS
from .imports import import_orders, preview_orders, read_orders
from .models import ExportJob, Order, OrderDraft, OrderEvent, OrderLine
from .selectors import order_admin_summary, order_filter_by_warehouse, order_search
from .services import (
    ADDRESS_CHANGEABLE,
    ADDRESS_FIELDS,
    EDITABLE,
    order_add_note,
    order_change_address,
    order_edit_lines,
    order_place,
    order_record_payment,
    order_transition,
)

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


class ProductFilter(admin.SimpleListFilter):
    """Orders with a line of one product, `?sku=...` (the analytics dashboard's drill-downs link here). Shown in the
    sidebar only while it is in use: a whole catalogue would not fit there."""

    title = "product"
    parameter_name = "sku"

    def lookups(self, request, model_admin):
        value = str(self.value() or "")[:64]
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(pk__in=OrderLine.objects.filter(product__sku=self.value()[:64]).values("order_id"))


class OrderChannelFilter(admin.SimpleListFilter):
    """The channel of the order a row belongs to, for other apps' lists (returns, refunds, parcels):
    `?order_channel=phone`, or several channels separated by commas."""

    title = "order channel"
    parameter_name = "order_channel"
    order_path = "order__channel"

    def _wanted(self) -> list[str]:
        return [v for v in str(self.value() or "").split(",") if v in Order.Channel.values]

    def lookups(self, request, model_admin):
        choices = list(Order.Channel.choices)
        if self.value() and self.value() not in Order.Channel.values and self._wanted():
            choices.append((self.value(), " or ".join(Order.Channel(v).label for v in self._wanted())))
        return choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        wanted = self._wanted()
        return queryset.filter(**{f"{self.order_path}__in": wanted}) if wanted else queryset.none()


class OrderNoteForm(forms.Form):
    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)
    internal = forms.BooleanField(
        label="Internal", required=False, initial=True,
        help_text="Staff only: never shown to the customer. Untick to put the note on the customer's timeline.",
    )


# What the order page says comes next, per status (the buttons beside it are the ways to do it).
NEXT_STEP = {
    Order.Status.PLACED: "Check the order and confirm it.",
    Order.Status.CONFIRMED: "Start processing it: then its parcels can be made, picked and packed.",
    Order.Status.PROCESSING: "Put its items into parcels, then pick and pack them; the order is packed when every "
                             "parcel is.",
    Order.Status.PACKED: "Its parcels are packed: create their labels and hand them to the carrier.",
    Order.Status.PARTIALLY_SHIPPED: "Part of it has left; the rest waits in its parcels or still needs one.",
    Order.Status.SHIPPED: "With the carrier: the parcels' scans will mark it delivered.",
    Order.Status.DELIVERED: "Delivered. A return, a claim or a refund starts here.",
    Order.Status.RETURNED: "A parcel came back undelivered: send it again or refund the customer.",
    Order.Status.ON_HOLD: "On hold: release it to carry on.",
    Order.Status.CANCELLED: "Cancelled: nothing more to do.",
}
# Transitions drawn as the page's main button, and the one drawn as a warning.
PRIMARY_TRANSITIONS = {"confirm", "start_processing", "deliver", "release"}
DANGER_TRANSITIONS = {"cancel"}


@admin.register(Order)
class OrderAdmin(TransitionUrlsMixin, FSMAdminMixin, SimpleHistoryAdmin):
    """The order page is a summary with the next actions on top; every change goes through a service (a
    lifecycle button, "Change address", "Add note", or another app's action), never through a Save button."""

    fsm_fields = ["status"]
    change_form_template = "admin/orders/order/change_form.html"
    list_display = ["number", "status", "payment_status", "ship_name", "email", "total", "currency", "placed_at"]
    list_filter = ["status", "payment_status", ("placed_at", admin.DateFieldListFilter), WarehouseFilter, "channel",
                   ProductFilter]
    search_fields = ["number"]  # get_search_results: orders.selectors.order_search
    search_help_text = ("Part of an order number, the customer's name, email or phone (at least three characters), "
                        "or a whole tracking number or serial.")
    list_select_related = ["customer"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ["number", "status", "customer", "email", "phone", "notes", "subtotal", "shipping_total",
                       "total", "currency", "payment_status", "placed_at", "updated_at", "ship_name", "ship_line1",
                       "ship_line2", "ship_city", "ship_postal_code", "ship_region", "ship_country"]
    fields = readonly_fields
    inlines = []

    def get_search_results(self, request, queryset, search_term):
        return order_search(queryset, search_term), False

    def has_add_permission(self, request):
        return request.user.has_perm("orders.add_order")

    def add_view(self, request, form_url="", extra_context=None):
        """A phone or counter order, placed by staff through order_place like any other (prices from the shop, no
        oversell, the same timeline and emails). The form's token makes a double submit one order."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        posted = request.method == "POST"
        data = request.POST
        draft_id = (request.POST.get("draft") if posted else request.GET.get("draft")) or ""
        draft = OrderDraft.objects.filter(pk=int(draft_id)).first() if draft_id.isdigit() else None
        if draft is not None and draft.placed_order_id:
            self.message_user(request, f"That draft was placed as {draft.placed_order.number}.", messages.INFO)
            return redirect(reverse("admin:orders_order_change", args=[draft.placed_order_id]))
        if posted and "save_draft" in request.POST:  # nothing is checked or reserved: it is kept as typed
            draft = order_draft_save(data=draft_from_form(request.POST), actor=request.user, draft=draft)
            self.message_user(request, f"{draft} saved. Nothing is reserved until it is placed.", messages.SUCCESS)
            return redirect(reverse("admin:orders_order_add") + f"?draft={draft.pk}")
        more = posted and "more" in request.POST
        if more:
            data = with_more_rows(request.POST, prefix="line", more=4, limit=200)
        elif draft is not None and not posted:
            data = QueryDict(mutable=True)
            data.update(draft_to_form(draft.data))
        rerender = more or (draft is not None and not posted)
        prefill = self._customer_prefill(request.GET.get("customer", ""))
        if posted and not more:
            who, where = PhoneOrderForm(data), AddressForm(data, prefix="ship")
        else:
            initial = {**prefill.get("order", {}), "token": data.get("token") or secrets.token_urlsafe(16)}
            if rerender:
                initial.update({k: data.get(k, "") for k in PhoneOrderForm.base_fields if k != "token"})
            who = PhoneOrderForm(initial=initial)
            where = AddressForm(prefix="ship", initial={k: data.get(f"ship-{k}", "") for k in AddressForm.base_fields}
                                if rerender else prefill.get("address", {}))
        lines = OrderLineFormSet(data if (posted or rerender) else None, prefix="line",
                                 initial=[{} for _ in range(4)])
        if posted and not more and who.is_valid() and where.is_valid() and lines.is_valid():
            entered = [(i, f.cleaned_data) for i, f in enumerate(lines.forms) if f.cleaned_data.get("sku")]
            email = who.cleaned_data["email"]
            customer = get_user_model().objects.filter(email__iexact=email, is_active=True, is_staff=False).first()
            body = {k: v for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken", "token")}
            try:
                order, created = order_place(
                    customer=customer, email=email, phone=who.cleaned_data["phone"],
                    shipping_address=dict(where.cleaned_data), notes=who.cleaned_data["notes"],
                    lines=[{"sku": d["sku"].strip().upper(), "quantity": d["quantity"]} for _, d in entered],
                    shipping_total=who.cleaned_data["shipping_total"], actor=request.user,
                    idempotency_key=f"admin-phone-order:{who.cleaned_data['token']}", channel=Order.Channel.PHONE,
                    fingerprint=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest())
            except DomainError as err:
                show_domain_error(err, form=who, line_forms=lines.forms, entered=[i for i, _ in entered],
                                  nested={"shipping_address": where})
                if err.extra.get("sku"):
                    for i, line in entered:
                        if line["sku"].strip().upper() == str(err.extra["sku"]).upper():
                            lines.forms[i].add_error("quantity", f"{err.extra.get('available', 0)} available.")
            else:
                if draft is not None:
                    OrderDraft.objects.filter(pk=draft.pk, placed_order__isnull=True).update(placed_order=order)
                verb = "placed" if created else "was already placed (the form was sent twice)"
                self.message_user(request, f"{order.number} {verb}: {order.total} {order.currency}"
                                  + (f", for {customer.email}'s account." if customer else ", as a guest order."),
                                  messages.SUCCESS)
                return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        from inventory.models import Product

        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Take a phone order",
            "who": who, "where": where, "lines": lines, "found": prefill.get("found", []), "draft": draft,
            "query": request.GET.get("customer", "")[:100], "has_view_permission": True,
            "skus": Product.objects.filter(active=True).order_by("sku").values_list("sku", "name", "price")[:2000],
        }
        return TemplateResponse(request, "admin/orders/order/phone_order.html", context)

    @staticmethod
    def _customer_prefill(term: str) -> dict:
        """Customers matching a search (email or name), and the contact and address of the chosen one's last
        order, so a returning caller's details need not be typed again."""
        term = " ".join(term.split())[:100]
        if len(term) < 3:
            return {}
        users = get_user_model().objects.filter(is_staff=False, is_active=True).filter(
            Q(email__iexact=term) | Q(email__istartswith=term) | Q(last_name__istartswith=term)
            | Q(first_name__istartswith=term)).order_by("email")[:10]
        found = list(users)
        result: dict = {"found": found}
        exact = next((u for u in found if u.email.lower() == term.lower()), None)
        if exact is not None:
            last = Order.objects.filter(customer=exact).order_by("-placed_at", "-pk").first()
            result["order"] = {"email": exact.email, "phone": last.phone if last else ""}
            if last:
                result["address"] = {k: str(getattr(last, f"ship_{k}")) for k in ADDRESS_FIELDS}
        return result

    def has_delete_permission(self, request, obj=None):
        return False

    actions = ["print_invoices"]
    INVOICES_AT_ONCE = 50  # more are printed by a worker

    def get_actions(self, request):
        return {**super().get_actions(request), **order_admin_extensions.actions_for(self, request)}

    @admin.action(description="Print invoices (PDF, one per order)")
    def print_invoices(self, request, queryset):
        invoiceable = queryset.exclude(status=Order.Status.CANCELLED, payment_status=Order.PaymentStatus.UNPAID)
        orders = list(invoiceable.order_by("pk")[:self.INVOICES_AT_ONCE + 1])
        if len(orders) > self.INVOICES_AT_ONCE:  # many: a worker prints them, the job's page shows how far it got
            ids = list(invoiceable.order_by("pk").values_list("pk", flat=True)[:INVOICES_PER_FILE])
            job = invoice_job_start(order_ids=ids, actor=request.user)
            self.message_user(request, f"{len(ids)} invoices are being printed in the background.", messages.INFO)
            return redirect(reverse("admin:orders_exportjob_change", args=[job.pk]))
        if not orders:
            self.message_user(request, "Nothing to invoice: cancelled unpaid orders have no invoice.",
                              messages.WARNING)
            return None
        response = HttpResponse(invoices_pdf(orders=orders), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="invoices-{timezone.now():%Y%m%d-%H%M}.pdf"'
        return response


    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), *order_admin_extensions.inlines]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        name = request.POST.get(self.fsm_post_param) if request.method == "POST" else None
        if name:
            return self._transition_button_pressed(request, object_id, name)
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            sections = order_admin_extensions.sections_for(request, obj)
            context.update(order_admin_summary(order=obj))
            next_step = NEXT_STEP.get(obj.status, "")
            if obj.payment_status == Order.PaymentStatus.PARTIALLY_PAID and obj.status != Order.Status.CANCELLED:
                next_step = (f"Items were added after payment: {obj.balance_due} {obj.currency} is left to pay. "
                             + next_step)
            elif obj.refund_due > 0:
                next_step = f"{obj.refund_due} {obj.currency} is owed back to the customer. " + next_step
            context.update(title=f"Order {obj.number}", next_step=next_step.strip(),
                           next_actions=self._next_actions(request, obj, sections), sections=sections)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _next_actions(self, request, order: Order, sections: list[dict]) -> list[dict]:
        """The buttons at the top of the page: the lifecycle steps this person may take now, then other apps'
        actions (parcels, returns, refunds), then the order's own; the obvious next step first."""
        actions = [action for section in sections for action in section.get("actions", [])]
        for t in order.get_available_user_status_transitions(request.user):
            if not self.is_fsm_transition_visible(t):
                continue
            actions.append({"transition": t.name, "label": self.get_fsm_label(t), "primary": t.name in
                            PRIMARY_TRANSITIONS, "danger": t.name in DANGER_TRANSITIONS,
                            "help_text": t.custom.get("help_text", "")})
        actions += order_admin_extensions.buttons_for(request, order)
        if request.user.has_perm("orders.change_order") and order.status in ADDRESS_CHANGEABLE:
            actions.append({"label": "Change address", "url": reverse("admin:orders_order_address",
                                                                      args=[order.pk]),
                            "help_text": "Until a parcel has its label; the customer and staff are told."})
        if request.user.has_perm("orders.change_order") and order.status in EDITABLE:
            actions.append({"label": "Change items", "url": reverse("admin:orders_order_items", args=[order.pk]),
                            "help_text": "Add or remove items, or change how many, until they are picked"
                                         + ("; the difference is then to pay or to refund." if order.amount_paid
                                            else ".")})
        if (request.user.has_perm("orders.record_payment") and order.balance_due > 0
                and order.status != Order.Status.CANCELLED):
            actions.append({"label": f"Record payment ({order.balance_due} {order.currency} due)",
                            "url": reverse("admin:orders_order_payment", args=[order.pk]),
                            "primary": order.payment_status == Order.PaymentStatus.PARTIALLY_PAID,
                            "help_text": "Money that arrived: card, bank transfer or cash, with its reference."})
        actions.append({"label": "Invoice (PDF)", "url": reverse("admin:orders_order_invoice", args=[order.pk])})
        return sorted(actions, key=lambda a: (not a.get("primary"), bool(a.get("danger"))))

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
            path("<path:object_id>/address/", self.admin_site.admin_view(self.address_view),
                 name="orders_order_address"),
            path("<path:object_id>/invoice/", self.admin_site.admin_view(self.invoice_view),
                 name="orders_order_invoice"),
            path("<path:object_id>/items/", self.admin_site.admin_view(self.items_view), name="orders_order_items"),
            path("<path:object_id>/payment/", self.admin_site.admin_view(self.payment_view),
                 name="orders_order_payment"),
            path("import/", self.admin_site.admin_view(self.import_view), name="orders_order_import"),
            *super().get_urls(),
        ]

    def address_view(self, request, object_id):
        """A new delivery address through orders.services.order_change_address (timeline, customer, staff)."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied
        current = {k: getattr(order, f"ship_{k}") for k in ADDRESS_FIELDS}
        current["country"] = str(current["country"])
        form = AddressForm(request.POST if request.method == "POST" else None, initial=current)
        if form.is_valid():
            try:
                order_change_address(order=order.number, address=form.cleaned_data, actor=request.user)
            except DomainError as err:
                show_domain_error(err, form=form, nested={"shipping_address": form})
            else:
                self.message_user(request, f"{order.number}: the delivery address is changed; the customer is told.",
                                  messages.SUCCESS)
                return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request), "title": f"Change the delivery address of {order.number}",
            "opts": self.opts, "original": order, "form": form, "has_view_permission": True,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(AddressForm.base_fields)})], {},
                                           model_admin=self),
            "step": "Change address", "submit_label": "Change the address",
            "intro": f"Order {order.number} is {order.get_status_display().lower()}. The address can change until a "
                     "parcel carries its label; the customer gets an email, and the warehouse is alerted so nothing "
                     "leaves for the old address.",
        }
        return TemplateResponse(request, "admin/orders/order/order_form.html", context)

    def payment_view(self, request, object_id):
        """Money that arrived for an order, through orders.services.order_record_payment (timeline, status)."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not request.user.has_perm("orders.record_payment"):
            raise PermissionDenied
        form = PaymentForm(request.POST if request.method == "POST" else None,
                           initial={"amount": order.balance_due or None})
        if form.is_valid():
            try:
                order_record_payment(order=order.number, actor=request.user, **form.cleaned_data)
            except DomainError as err:
                show_domain_error(err, form=form)
            else:
                order.refresh_from_db()
                left = (f" {order.balance_due} {order.currency} is still to pay." if order.balance_due else
                        " It is paid in full.")
                self.message_user(request, f"{order.number}: payment of {form.cleaned_data['amount']} "
                                  f"{order.currency} recorded.{left}", messages.SUCCESS)
                return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request), "title": f"Record a payment for {order.number}",
            "opts": self.opts, "original": order, "form": form, "has_view_permission": True,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(PaymentForm.base_fields)})], {},
                                           model_admin=self),
            "step": "Record payment", "submit_label": "Record the payment",
            "intro": f"Order {order.number}: total {order.total} {order.currency}, paid {order.amount_paid} "
                     f"{order.currency}, {order.balance_due} {order.currency} due.",
        }
        return TemplateResponse(request, "admin/orders/order/order_form.html", context)

    def import_view(self, request):
        """Orders from a CSV or XLSX file (orders.imports): a preview of every order first, then all in one go."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        errors, orders, stored = [], [], request.session.get("order_import", "")
        if request.method == "POST" and "confirm" in request.POST and stored:
            fmt = stored.rsplit(".", 1)[-1]
            with default_storage.open(stored, "rb") as f:
                orders, errors = read_orders(f.read(), fmt=fmt)
            if not errors:
                try:
                    numbers = import_orders(orders, actor=request.user)
                except DomainError as err:
                    errors = [f"Nothing was imported: {err.message}"]
                else:
                    default_storage.delete(stored)
                    request.session.pop("order_import", None)
                    self.message_user(request, f"{len(numbers)} order(s) imported: {', '.join(numbers[:20])}"
                                      + (" and more." if len(numbers) > 20 else "."), messages.SUCCESS)
                    return redirect(reverse("admin:orders_order_changelist"))
        elif request.method == "POST" and request.FILES.get("file"):
            upload = request.FILES["file"]
            fmt = "xlsx" if upload.name.lower().endswith(".xlsx") else "csv"
            if upload.size > 5 * 1024 * 1024:
                errors = ["At most 5 MB per file: split it."]
            else:
                content = upload.read()
                orders, errors = read_orders(content, fmt=fmt)
                if not errors:
                    preview_orders(orders, actor=request.user)
                    if stored:
                        default_storage.delete(stored)
                    stored = default_storage.save(f"imports/{secrets.token_hex(16)}.{fmt}", ContentFile(content))
                    request.session["order_import"] = stored
        elif request.method == "POST":
            errors = ["Choose a CSV or XLSX file."]
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Import orders",
            "orders": orders, "errors": errors, "columns": ", ".join(ORDER_IMPORT_COLUMNS),
            "ready": bool(orders) and not errors and not any(o.error for o in orders),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/orders/order/import.html", context, status=422 if errors else 200)

    def items_view(self, request, object_id):
        """Change the items of an order not processed yet, through orders.services.order_edit_lines."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied
        lines = list(order.lines.order_by("pk"))
        error, entered = "", {}
        if request.method == "POST":
            changes = []
            for line in lines:
                raw = (request.POST.get(f"qty_{line.pk}") or "").strip()
                entered[f"qty_{line.pk}"] = raw[:6]
                if raw.isdigit() and int(raw) != line.quantity:
                    changes.append({"sku": line.sku, "quantity": int(raw)})
                elif raw and not raw.isdigit():
                    error = f"{line.sku}: a whole number of units (0 removes it)."
            for i in range(3):
                sku, raw = (request.POST.get(f"new_sku_{i}") or "").strip(), (request.POST.get(f"new_qty_{i}") or "")
                entered[f"new_sku_{i}"], entered[f"new_qty_{i}"] = sku[:64], raw.strip()[:6]
                if sku:
                    if raw.strip().isdigit():
                        changes.append({"sku": sku, "quantity": int(raw)})
                    else:
                        error = f"{sku}: say how many to add."
            if not error:
                try:
                    order_edit_lines(order=order.number, changes=changes, actor=request.user,
                                     reason=(request.POST.get("reason") or "")[:500])
                except DomainError as err:
                    problems = [p for ps in (err.extra.get("fields") or {}).values() for p in ps]
                    error = err.message + (" " + " ".join(problems) if problems else "")
                    if err.extra.get("sku"):
                        error += f" ({err.extra['sku']}: {err.extra.get('available', 0)} available.)"
                else:
                    order.refresh_from_db()
                    money = ""
                    if order.amount_paid and order.balance_due:
                        money = (f" {order.balance_due} {order.currency} is left to pay: record the payment when it "
                                 "arrives.")
                    elif order.refund_due:
                        money = f" {order.refund_due} {order.currency} is to refund: use “Refund the difference”."
                    self.message_user(request, f"{order.number}: items changed; the customer is told.{money}",
                                      messages.SUCCESS)
                    return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        for line in lines:
            line.entered = entered.get(f"qty_{line.pk}", str(line.quantity))
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "original": order, "lines": lines,
            "title": f"Change the items of {order.number}", "error": error, "entered": entered,
            "new_rows": [{"i": i, "sku": entered.get(f"new_sku_{i}", ""), "qty": entered.get(f"new_qty_{i}", "")}
                         for i in range(3)],
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/orders/order/items.html", context, status=422 if error else 200)

    def invoice_view(self, request, object_id):
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        try:
            content = invoice_pdf(order=order)
        except DomainError as err:
            self.message_user(request, err.message, messages.ERROR)
            return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="invoice-{order.number}.pdf"'
        return response

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
            "has_view_permission": True, "step": "Add note", "submit_label": "Add note",
            "intro": f"The note goes on the timeline of order {order.number} ({order.get_status_display().lower()}).",
        }
        return TemplateResponse(request, "admin/orders/order/order_form.html", context)

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



@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Background exports: progress while they run, the file when they are done."""

    list_display = ["__str__", "status", "progress", "created_by", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    change_form_template = "admin/orders/exportjob/change_form.html"
    readonly_fields = ["kind", "params", "status", "total", "done_rows", "error", "created_by", "created_at",
                       "started_at", "finished_at"]
    fields = readonly_fields

    @admin.display(description="progress")
    def progress(self, obj) -> str:
        return f"{obj.percent} %"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("orders.view_order")

    def get_urls(self):
        return [
            path("start/", self.admin_site.admin_view(self.start_view), name="orders_exportjob_start"),
            path("<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                 name="orders_exportjob_download"),
            *super().get_urls(),
        ]

    def start_view(self, request):
        """Export the orders the list shows (its filters and search), in the background."""
        if not request.user.has_perm("orders.view_order"):
            raise PermissionDenied
        params = export_params_from_admin(request.POST if request.method == "POST" else request.GET)
        if request.method == "POST":
            try:
                job = export_job_start(params=params, actor=request.user)
            except ValueError as err:
                self.message_user(request, f"These filters cannot be exported: {err}", messages.ERROR)
                return redirect(reverse("admin:orders_order_changelist"))
            return redirect(reverse("admin:orders_exportjob_change", args=[job.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Export orders (CSV)",
                   "params": params}
        return TemplateResponse(request, "admin/orders/exportjob/start.html", context)

    def download_view(self, request, pk: int):
        job = ExportJob.objects.filter(pk=pk).first()
        if job is None or not request.user.has_perm("orders.view_order"):
            raise Http404
        if job.status != ExportJob.Status.DONE or not job.file:
            self.message_user(request, "The export is not ready yet.", messages.WARNING)
            return redirect(reverse("admin:orders_exportjob_change", args=[job.pk]))
        name = job.file.name.rsplit("/", 1)[-1]
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=name,
                            content_type="application/pdf" if name.endswith(".pdf") else "text/csv")


@admin.register(OrderDraft)
class OrderDraftAdmin(admin.ModelAdmin):
    """Phone orders put together but not placed yet: open one to go on, place it, or delete it."""

    list_display = ["__str__", "created_by", "updated_at", "placed_order", "open_link"]
    list_select_related = ["created_by", "placed_order"]
    list_filter = [("placed_order", admin.EmptyFieldListFilter)]
    readonly_fields = ["label", "created_by", "created_at", "updated_at", "placed_order"]
    fields = readonly_fields

    @admin.display(description="")
    def open_link(self, obj) -> str:
        if obj.placed_order_id:
            return "—"
        return format_html('<a href="{}?draft={}">Open</a>', reverse("admin:orders_order_add"), obj.pk)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("orders.add_order")

    def has_add_permission(self, request):
        return False  # drafts are saved from "Take a phone order"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("orders.add_order") and (obj is None or not obj.placed_order_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        draft = self.get_object(request, unquote(object_id))
        if draft is not None and not draft.placed_order_id and self.has_view_permission(request):
            return redirect(reverse("admin:orders_order_add") + f"?draft={draft.pk}")
        return super().change_view(request, object_id, form_url, extra_context)
