from collections.abc import Callable, Iterable

from django.db import connection
from django.db.models import CharField, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from config.text import has_control_characters

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


TIMELINE_ON_PAGE = 100  # the newest entries on the staff order page; the rest are under Orders → Order events


def order_admin_summary(*, order: Order) -> dict:
    """What the staff order page shows above everything else, in three queries whatever the order's size: its
    lines with what is reserved where and what has left, and the newest timeline entries."""
    lines = list(OrderLine.objects.filter(order=order).order_by("pk"))
    held: dict[int, list[dict]] = {}
    for row in (Allocation.objects.filter(order=order).order_by("line_id", "warehouse__priority")
                .values("line_id", "warehouse__code", "quantity", "shipped", "released")):
        held.setdefault(row["line_id"], []).append(row)
    for line in lines:
        rows = held.get(line.pk, [])
        line.reserved = sum(r["quantity"] for r in rows)
        line.reserved_at = [f"{r['quantity']} at {r['warehouse__code']}" for r in rows if r["quantity"]]
    events = list(OrderEvent.objects.filter(order=order).select_related("actor")
                  .order_by("-created_at", "-pk")[:TIMELINE_ON_PAGE + 1])
    return {"lines": lines, "events": events[:TIMELINE_ON_PAGE], "more_events": len(events) > TIMELINE_ON_PAGE,
            "units": sum(line.quantity for line in lines)}


# Other apps find orders by identifiers they own (shipping: tracking numbers and the serials packed in parcels). A
# finder takes the search term in capitals and returns the ids of the orders it names exactly (through an index).
ORDER_FINDERS: list[Callable[[str], Iterable[int]]] = []
# The text the trigram index order_search_trgm covers (migration 0009): number, email, recipient, phone.
ORDER_HAYSTACK = ("upper(\"orders_order\".\"number\" || ' ' || \"orders_order\".\"email\" || ' ' || "
                  "\"orders_order\".\"ship_name\" || ' ' || \"orders_order\".\"phone\")")
SEARCH_MIN_PARTIAL = 3  # shorter terms match whole numbers only: a trigram index cannot help below three letters


def register_order_finder(finder: Callable[[str], Iterable[int]]) -> None:
    if finder not in ORDER_FINDERS:
        ORDER_FINDERS.append(finder)


def order_search(qs: QuerySet[Order], term: str) -> QuerySet[Order]:
    """Orders whose number, email, recipient's name or phone contains `term` (any case), or that a tracking
    number or serial names exactly. On PostgreSQL the partial match runs on the trigram index, so it costs the
    same at a million orders as at a thousand."""
    term = " ".join((term or "").split())
    if not term:
        return qs
    if has_control_characters(term, single_line=True) or len(term) > 200:
        return qs.none()  # nothing is called that; PostgreSQL would refuse the text
    upper = term.upper()
    ids = {pk for finder in ORDER_FINDERS for pk in finder(upper)}
    if len(term) < SEARCH_MIN_PARTIAL:
        return qs.filter(Q(pk__in=ids) | Q(number=upper))
    if connection.vendor == "postgresql":
        text = Q(haystack__contains=upper)  # LIKE '%TERM%' over the indexed expression
        qs = qs.annotate(haystack=RawSQL(ORDER_HAYSTACK, [], output_field=CharField()))
    else:
        text = (Q(number__icontains=term) | Q(email__icontains=term) | Q(ship_name__icontains=term)
                | Q(phone__icontains=term))
    return qs.filter(Q(pk__in=ids) | text) if ids else qs.filter(text)
