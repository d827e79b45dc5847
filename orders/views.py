"""The customer portal: a customer's own orders, their timeline and parcels, and email preferences."""

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .errors import OrderNotFound
from .selectors import order_detail_for_customer, order_list_for_customer

ORDERS_PER_PAGE = 20


def home(request):
    if request.user.is_authenticated:
        return redirect("portal:order-list")
    return render(request, "portal/home.html")


@login_required
def order_list(request):
    orders = order_list_for_customer(customer=request.user).order_by("-placed_at", "-id")
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/orders/list.html", {"page": page, "orders": page.object_list})


def _parcels(order, user) -> list:
    if not apps.is_installed("shipping"):
        return []
    from shipping.selectors import shipment_list

    parcels = shipment_list(user=user).filter(order=order).order_by("created_at", "id")
    if apps.is_installed("returns"):
        parcels = parcels.select_related("return_request")  # a return parcel links to its label
    return list(parcels)


@login_required
def order_detail(request, number: str):
    try:
        order = order_detail_for_customer(number=number, customer=request.user)
    except OrderNotFound:
        raise Http404("No such order among yours.") from None
    return render(request, "portal/orders/detail.html", {"order": order, "parcels": _parcels(order, request.user)})


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
        "preference": notification_preference_for(user=request.user),
        "notifications": notification_list_for_customer(customer=request.user)[:50],
    })
