from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from .errors import OrderNotFound
from .models import Allocation, Order, OrderEvent, OrderLine


def _is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff and user.has_perm("orders.view_order"))


def order_list(*, user) -> QuerySet[Order]:
    """Orders a user may see: every order for staff with the view permission, otherwise their own."""
    qs = Order.objects.select_related("customer")
    return qs if _is_staff(user) else qs.filter(customer=user)


def order_list_for_customer(*, customer) -> QuerySet[Order]:
    return Order.objects.filter(customer=customer)


def order_filter_by_warehouse(qs: QuerySet[Order], warehouse_code: str) -> QuerySet[Order]:
    """Orders with stock allocated at a warehouse (EXISTS, not a join: no duplicates, no DISTINCT)."""
    return qs.filter(
        Exists(Allocation.objects.filter(order=OuterRef("pk"), warehouse__code=warehouse_code))
    )


def order_detail(*, number: str, user) -> Order:
    """One order with lines and timeline, or OrderNotFound (also for someone else's order: no existence leak)."""
    staff = _is_staff(user)
    events = OrderEvent.objects.select_related("actor")
    if not staff:
        events = events.filter(internal=False)
    prefetches = [
        Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
        Prefetch("events", queryset=events.order_by("created_at", "id")),
    ]
    if staff:  # which warehouse holds what is for staff only
        allocations = Allocation.objects.select_related("warehouse").order_by("id")
        prefetches.append(Prefetch("allocations", queryset=allocations))
    qs = order_list(user=user).prefetch_related(*prefetches)
    try:
        return qs.get(number=number)
    except Order.DoesNotExist:
        raise OrderNotFound(f"No order {number}.", number=number) from None


def order_detail_for_customer(*, number: str, customer) -> Order:
    """The customer's own order as the portal shows it: lines and the timeline without internal entries.

    Anyone else's order, staff included, is OrderNotFound: the portal is always the customer's view.
    """
    events = OrderEvent.objects.filter(internal=False).select_related("actor").order_by("created_at", "id")
    qs = order_list_for_customer(customer=customer).prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id")), Prefetch("events", queryset=events),
    )
    try:
        return qs.get(number=number)
    except Order.DoesNotExist:
        raise OrderNotFound(f"No order {number}.", number=number) from None
