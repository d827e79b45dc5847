"""The customer portal: my orders and each order's story, live; a problem reported on a delivered item (a return
or claim, and a ticket where a person must look); my returns; my conversations with support; my emails. A guest
opens one order with its number and email, or from a link in any of our emails.

Every page answers only for the customer's own things (or the orders this session was given): anyone else's is
a 404, the same answer as for something that does not exist.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config.errors import DomainError
from config.links import order_from_token
from config.ratelimit import client_ip, limit_exceeded
from orders.models import Order, OrderEvent, OrderLine
from returns.models import Reason, ReturnRequest
from returns.selectors import return_detail, return_list, returnable_quantities
from returns.services import return_add_photo, return_create, return_window
from shipping.models import Carrier, Shipment, ShipmentEvent, ShipmentUnit
from support.models import Category, Message, Ticket
from support.selectors import ticket_detail, ticket_list
from support.services import ticket_customer_reply, ticket_open

from . import forms
from .story import customer_story

ORDERS_PER_PAGE = 20
SESSION_ORDERS = "portal_orders"  # order numbers a guest opened in this session


# --- who may see an order ---------------------------------------------------------------------------------------

def _guest_numbers(request) -> list[str]:
    return list(request.session.get(SESSION_ORDERS, []))


def _grant(request, number: str) -> None:
    numbers = _guest_numbers(request)
    if number not in numbers:
        request.session[SESSION_ORDERS] = (numbers + [number])[-20:]


def _visible_orders(request):
    """The customer's own orders, and those this session was given (a guest's lookup or email link)."""
    own = Q(customer=request.user) if request.user.is_authenticated else Q(pk__in=[])
    return Order.objects.filter(own | Q(number__in=_guest_numbers(request)))


def _order(request, number: str, *, related: bool = False) -> Order:
    qs = _visible_orders(request)
    if related:
        events = OrderEvent.objects.filter(internal=False).order_by("created_at", "id")
        qs = qs.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
                                 Prefetch("events", queryset=events))
    found = qs.filter(number=str(number).upper()[:20]).first()
    if found is None:
        raise Http404("No such order.")
    return found


# --- orders -------------------------------------------------------------------------------------------------------

def home(request):
    if request.user.is_authenticated:
        return redirect("portal:order-list")
    return render(request, "portal/home.html", {"form": forms.OrderLookupForm()})


@login_required
def order_list(request):
    """My orders: what is in each (first item, "+ 2 more"), its status in words, its latest parcel news."""
    orders = Order.objects.filter(customer=request.user).order_by("-placed_at", "-id")
    term = (request.GET.get("q") or "").strip()[:80]
    if term and all(ord(c) >= 32 for c in term):
        orders = orders.filter(Q(number__icontains=term) | Q(lines__name__icontains=term)
                               | Q(lines__sku__iexact=term)).distinct()
    page = Paginator(orders.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id"))),
                     ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    latest: dict[int, ShipmentEvent] = {}
    for event in (ShipmentEvent.objects.filter(shipment__order__in=rows, shipment__direction="outbound")
                  .exclude(to_status__in=["", "pending", "picked", "packed"])
                  .order_by("shipment__order_id", "-occurred_at").select_related("shipment")):
        latest.setdefault(event.shipment.order_id, event)
    for order in rows:
        lines = list(order.lines.all())
        order.first_line, order.more = (lines[0] if lines else None), max(len(lines) - 1, 0)
        order.latest_parcel = latest.get(order.pk)
    return render(request, "portal/orders/list.html", {"page": page, "orders": rows, "q": term})


def _address_refusal(order: Order) -> str:
    """Why the delivery address can no longer change ("" while it can): the order's state, or a guard."""
    from orders.services import ADDRESS_CHANGE_GUARDS, ADDRESS_CHANGEABLE

    if order.status not in ADDRESS_CHANGEABLE:
        return f"Order {order.number} is {order.get_status_display().lower()}."
    return next((why for guard in ADDRESS_CHANGE_GUARDS if (why := guard(order))), "")


def _order_context(request, order: Order) -> dict:
    carriers = dict(Carrier.objects.values_list("code", "name"))
    parcels = list(Shipment.objects.filter(order=order).select_related("carrier").prefetch_related(
        Prefetch("events", queryset=ShipmentEvent.objects.filter(source="carrier").order_by("-occurred_at")),
        "lines__order_line").order_by("created_at", "id"))
    returns = list(ReturnRequest.objects.filter(order=order).select_related("replacement_order", "label_shipment")
                   .order_by("-created_at"))
    return {"order": order, "story": customer_story(order, list(order.events.all()), carriers=carriers),
            "can_cancel": order.status in Order.HOLDABLE, "can_change_address": not _address_refusal(order),
            "parcels": parcels, "returns": returns,
            "can_report": order.status in (Order.Status.DELIVERED, Order.Status.SHIPPED,
                                           Order.Status.PARTIALLY_SHIPPED),
            "live": order.status not in (Order.Status.DELIVERED, Order.Status.CANCELLED),
            "refresh_seconds": settings.WAYBILL_PORTAL_REFRESH_SECONDS}


def order_detail(request, number: str):
    token = request.GET.get("access")
    if token:  # a link from one of our emails: it opens this order for the session
        opened = order_from_token(token)
        if opened is None or opened != str(number).upper():
            return render(request, "portal/link_expired.html", status=404)
        _grant(request, opened)
        return redirect(reverse("portal:order-detail", args=[opened]))
    order = _order(request, number, related=True)
    context = _order_context(request, order)
    if request.htmx and request.GET.get("part") == "live":
        return render(request, "portal/orders/detail.html#live", context)
    return render(request, "portal/orders/detail.html", context)


def _rate_limited(request, number: str) -> bool:
    """At most WAYBILL_ORDER_LOOKUP_LIMIT lookups per client and per order number in the window."""
    window, limit = settings.WAYBILL_ORDER_LOOKUP_WINDOW_SECONDS, settings.WAYBILL_ORDER_LOOKUP_LIMIT
    over_client = limit_exceeded(f"lookup:ip:{client_ip(request)}", limit=limit, window=window)
    over_order = limit_exceeded(f"lookup:order:{number}", limit=limit, window=window)
    return over_client or over_order


@require_http_methods(["GET", "POST"])
def order_lookup(request):
    """A guest opens one order with its number and the email it was placed with. A wrong pair and an unknown
    number get the same answer."""
    form = forms.OrderLookupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        number, email = form.cleaned_data["number"], form.cleaned_data["email"]
        if _rate_limited(request, number):
            return render(request, "portal/lookup_limited.html", status=429)
        order = Order.objects.filter(number=number, email__iexact=email).first()
        if order is not None:
            _grant(request, order.number)
            return redirect(reverse("portal:order-detail", args=[order.number]))
        form.add_error(None, "We could not find an order with that number and email. Check both: they are in "
                             "the confirmation email we sent you.")
    return render(request, "portal/lookup.html", {"form": form}, status=400 if form.errors else 200)


# --- something went wrong -----------------------------------------------------------------------------------------

SUPPORT_NEEDED = {Reason.DEFECTIVE: Category.DEFECT, Reason.DAMAGED_IN_TRANSIT: Category.DELIVERY,
                  Reason.MISSING_ITEM: Category.DELIVERY, Reason.WRONG_ITEM: Category.RETURN,
                  Reason.NOT_AS_DESCRIBED: Category.RETURN}


def _shipped_serials(order: Order) -> dict[int, list[str]]:
    serials: dict[int, list[str]] = {}
    for line_id, serial, status in (ShipmentUnit.objects.filter(shipment__order=order)
                                    .values_list("line__order_line_id", "unit__serial", "unit__status")):
        if status == "with_customer":
            serials.setdefault(line_id, []).append(serial)
    return serials


@require_http_methods(["GET", "POST"])
def report_problem(request, number: str):
    """Report a problem with a delivered item: it becomes a return or claim in the after-sales flow, and a
    conversation with support when a person must look at it (a defect, damage, a wrong or missing item)."""
    order = _order(request, number)
    returnable = returnable_quantities(order=order)
    lines = [line for line in order.lines.select_related("product").order_by("pk") if returnable.get(line.pk)]
    serials = _shipped_serials(order)
    form = forms.ReportProblemForm(request.POST or None, request.FILES or None, lines=lines, serials=serials)
    windows = {line.pk: return_window(line.product, Reason.NO_LONGER_WANTED) for line in lines}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        line = next(line for line in lines if line.pk == data["line"])
        try:
            rr = return_create(order=order, channel=ReturnRequest.Channel.PORTAL,
                               actor=request.user if request.user.is_authenticated else None,
                               resolution=data["resolution"], customer_note=data["description"],
                               lines=[{"line": line.pk, "quantity": data["quantity"], "reason": data["reason"],
                                       "serial": data.get("serial", ""), "description": data["description"]}])
            for photo in request.FILES.getlist("photos")[:5]:
                return_add_photo(line=rr.lines.get(), upload=photo, actor=request.user)
            if data["reason"] in SUPPORT_NEEDED:  # a person looks at it: the claim comes with a conversation
                ticket_open(subject=f"{Reason(data['reason']).label}: {line.name}"[:200],
                                     body=data["description"] or Reason(data["reason"]).label, email=order.email,
                                     customer=order.customer, category=SUPPORT_NEEDED[data["reason"]],
                                     order=order, order_line=line, serial=data.get("serial", ""),
                                     return_request=rr, channel=Ticket.Channel.PORTAL, notify=False)
        except DomainError as err:
            form.add_error(None, err.message)
            for problems in (err.extra.get("fields") or {}).values():
                for problem in problems:
                    form.add_error(None, problem)
        else:
            messages.success(request, f"Thank you. Your return {rr.number} is registered; we will reply within two "
                             "working days and tell you what happens next by email.")
            return redirect(reverse("portal:return-detail", args=[rr.number]))
    return render(request, "portal/returns/report.html", {
        "order": order, "form": form, "lines": lines, "serials": serials,
        "window_days": min(windows.values()) if windows else settings.WAYBILL_RETURN_WINDOW_DAYS},
                  status=400 if form.errors else 200)


@login_required
def return_list_page(request):
    returns = return_list(user=request.user).order_by("-created_at")[:100]
    return render(request, "portal/returns/list.html", {"returns": returns})


def return_detail_page(request, number: str):
    rr = ReturnRequest.objects.filter(number=str(number).upper()[:20]).select_related("order").first()
    if rr is None or not _visible_orders(request).filter(pk=rr.order_id).exists():
        raise Http404("No such return.")
    if request.user.is_authenticated and rr.customer_id == request.user.pk:
        rr = return_detail(number=rr.number, user=request.user)
    else:  # a guest with the order open in this session
        rr = (ReturnRequest.objects.select_related("order", "label_shipment__carrier", "replacement_order",
                                                   "exchange_product")
              .prefetch_related("lines__order_line", "lines__unit", "lines__replacement_unit", "refunds",
                                Prefetch("events", queryset=rr.events.filter(internal=False)))
              .get(pk=rr.pk))
    replacement_parcels = list(Shipment.objects.filter(order=rr.replacement_order).select_related("carrier")
                               .order_by("created_at")) if rr.replacement_order_id else []
    # the story in the words written for the customer (the order's timeline), not the return's staff log
    story = list(OrderEvent.objects.filter(order_id=rr.order_id, kind="return", internal=False,
                                           data__return_number=rr.number).order_by("-created_at", "-id"))
    story += [e for e in OrderEvent.objects.filter(order_id=rr.order_id, kind=OrderEvent.Kind.PAYMENT,
                                                   data__return_number=rr.number).order_by("-created_at")]
    story.sort(key=lambda e: (e.created_at, e.pk), reverse=True)
    return render(request, "portal/returns/detail.html", {"rr": rr, "replacement_parcels": replacement_parcels,
                                                          "story": story})


def return_label_page(request, number: str):
    from shipping.documents import return_label_pdf

    rr = ReturnRequest.objects.filter(number=str(number).upper()[:20]).select_related(
        "order", "label_shipment__carrier", "label_shipment__warehouse", "label_shipment__order").first()
    token = request.GET.get("access")
    if rr is not None and token and order_from_token(token) == rr.order.number:  # the link in the approval email
        _grant(request, rr.order.number)
    staff = request.user.is_authenticated and request.user.is_staff and request.user.has_perm(
        "returns.view_returnrequest")
    if rr is None or rr.label_shipment is None or rr.label_shipment.status == "cancelled" or not (
            staff or _visible_orders(request).filter(pk=rr.order_id).exists()):
        raise Http404("No such label.")
    response = HttpResponse(return_label_pdf(shipment=rr.label_shipment, return_number=rr.number),
                            content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="return-label-{rr.number}.pdf"'
    return response


# --- support ------------------------------------------------------------------------------------------------------

@login_required
def ticket_list_page(request):
    return render(request, "portal/help/list.html", {"tickets": ticket_list(user=request.user)[:100]})


@login_required
@require_http_methods(["GET", "POST"])
def ticket_new(request):
    orders = Order.objects.filter(customer=request.user).order_by("-placed_at")[:50]
    form = forms.ContactForm(request.POST or None, request.FILES or None, orders=orders,
                             initial={"order": request.GET.get("order", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = ticket_open(subject=data["subject"], body=data["body"], customer=request.user,
                                 category=data["category"], order=data["order"] or None,
                                 channel=Ticket.Channel.PORTAL, attachments=request.FILES.getlist("attachments"))
        except DomainError as err:
            form.add_error(None, err.message)
        else:
            messages.success(request, f"Thank you: we have your message ({ticket.number}) and will answer soon.")
            return redirect(reverse("portal:ticket-detail", args=[ticket.number]))
    return render(request, "portal/help/new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def ticket_detail_page(request, number: str):
    try:
        ticket = ticket_detail(number=number, user=request.user)
    except DomainError:
        raise Http404("No such conversation.") from None
    form = forms.CustomerReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            on, _ = ticket_customer_reply(ticket=ticket.number, body=form.cleaned_data["body"], customer=request.user,
                                          source=Message.Source.PORTAL,
                                          attachments=request.FILES.getlist("attachments"))
        except DomainError as err:
            form.add_error(None, err.message)
        else:
            messages.success(request, "Sent. We will answer soon." if on.pk == ticket.pk else
                             f"That conversation was finished, so we started a new one for you ({on.number}).")
            return redirect(reverse("portal:ticket-detail", args=[on.number]))
    return render(request, "portal/help/detail.html", {"ticket": ticket, "form": form},
                  status=400 if form.errors else 200)


# --- emails -------------------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request):
    """Recent emails sent to the customer, and the switch for emails that are not essential."""
    from notifications.selectors import notification_list_for_customer, notification_preference_for
    from notifications.services import notification_preference_set

    if request.method == "POST":
        wanted = request.POST.get("non_essential_email") == "on"
        notification_preference_set(user=request.user, non_essential_email=wanted)
        messages.success(request, "Saved. " + ("You will get every update by email." if wanted else
                                               "You will only get emails about orders and deliveries."))
        return redirect("portal:notifications")
    return render(request, "portal/account/notifications.html", {
        "notifications": notification_list_for_customer(customer=request.user)[:50],
        "preference": notification_preference_for(user=request.user),
    })


# --- what a customer may still change -------------------------------------------------------------------------------

@require_http_methods(["POST"])
def order_cancel(request, number: str):
    from orders.services import order_transition

    order = _order(request, number)
    form = forms.CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tell us why you cancel (a few words are enough).")
    else:
        try:
            order_transition(order=order.number, name="cancel", check_permission=False,
                             actor=request.user if request.user.is_authenticated else None,
                             reason=f"Cancelled by the customer: {form.cleaned_data['reason']}")
        except DomainError as err:
            messages.error(request, err.message)
        else:
            messages.success(request, "Your order is cancelled. If you paid, the refund follows by email.")
    return redirect(reverse("portal:order-detail", args=[order.number]))


@require_http_methods(["GET", "POST"])
def order_address(request, number: str):
    from orders.services import order_change_address

    order = _order(request, number)
    initial = {k: getattr(order, f"ship_{k}") for k in ("name", "line1", "line2", "city", "postal_code", "region",
                                                         "country")}
    form = forms.AddressForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            order_change_address(order=order.number, address=form.cleaned_data,
                                 actor=request.user if request.user.is_authenticated else None)
        except DomainError as err:
            form.add_error(None, err.message)
            for field, problems in (err.extra.get("fields") or {}).items():
                form.add_error(None, f"{field.rsplit('.', 1)[-1].replace('_', ' ')}: {' '.join(problems)}")
        else:
            messages.success(request, "Saved: we will deliver to the new address.")
            return redirect(reverse("portal:order-detail", args=[order.number]))
    allowed = request.method != "GET" or not _address_refusal(order)
    return render(request, "portal/orders/address.html", {"order": order, "form": form, "allowed": allowed},
                  status=400 if form.errors else 200)


def order_invoice(request, number: str):
    from orders.documents import invoice_pdf

    order = _order(request, number)
    try:
        content = invoice_pdf(order=order)
    except DomainError as err:
        messages.error(request, err.message)
        return redirect("portal:order-detail", number=order.number)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="invoice-{order.number}.pdf"'
    return response


@login_required
def notification_detail(request, pk: int):
    """One email we sent the customer, as they received it (the text part)."""
    from notifications.selectors import notification_list_for_customer
    from notifications.services import render_email

    notification = notification_list_for_customer(customer=request.user).filter(pk=pk).first()
    if notification is None:
        raise Http404("No such email.")
    email = render_email(notification)
    return render(request, "portal/account/notification.html", {"notification": notification,
                                                                "subject": email.subject, "body": email.body})
