"""Reads for returns: lists scoped to the viewer, one return with everything its page shows,
and defect traceability (the figures the analytics dashboard charts)."""

from __future__ import annotations

import re
from datetime import datetime

from django.db.models import Count, F, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Left

from inventory.models import UnitEvent
from orders.models import Order, OrderEvent, OrderLine
from shipping.models import Shipment, ShipmentLine
from shipping.selectors import delivered_lines

from .errors import ReturnNotFound
from .models import Reason, ReturnEvent, ReturnLine, ReturnRequest

STAFF_PERMISSION = "returns.view_returnrequest"
NUMBER_SHAPE = re.compile(r"[A-Z0-9-]{1,20}")
SEARCH_SHAPE = re.compile(r"[A-Z0-9][A-Z0-9./-]{0,63}")  # a return or order number, or a serial


def _is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff and user.has_perm(STAFF_PERMISSION))


def with_line_count(qs: QuerySet[ReturnRequest]) -> QuerySet[ReturnRequest]:
    """Each return's number of lines, counted only for the rows a page shows (a correlated subquery, not a GROUP
    BY over every return)."""
    lines = (ReturnLine.objects.filter(return_request=OuterRef("pk")).order_by().values("return_request")
             .annotate(n=Count("pk")).values("n"))
    return qs.annotate(line_count=Coalesce(Subquery(lines), 0))


def return_search(qs: QuerySet[ReturnRequest], term: str) -> QuerySet[ReturnRequest]:
    """Returns by their number, their order's number or the serial of a returned unit, each through its own
    index (one OR across joins would scan every return)."""
    term = term.strip().upper()
    if not SEARCH_SHAPE.fullmatch(term):  # odd characters (NUL...) never reach the database
        return qs.none()
    if term.startswith("RT-"):
        return qs.filter(number=term)
    if term.startswith("WB-"):
        return qs.filter(order__number=term)
    return qs.filter(pk__in=ReturnLine.objects.filter(unit__serial=term).values("return_request_id"))


def return_list(*, user) -> QuerySet[ReturnRequest]:
    """Staff with the permission see every return; a customer their own; anyone else nothing."""
    qs = with_line_count(ReturnRequest.objects.select_related("order"))
    if _is_staff(user):
        return qs
    if user and user.is_authenticated:
        return qs.filter(customer=user)
    return qs.none()


def return_detail(*, number: str, user) -> ReturnRequest:
    """One return with its lines (units, photos, replacement units) and timeline; another customer's is a 404,
    and customers never get internal entries."""
    staff = _is_staff(user)
    events = ReturnEvent.objects.select_related("actor").order_by("created_at", "id")
    if not staff:
        events = events.filter(internal=False)
    qs = ReturnRequest.objects.select_related(
        "order", "exchange_product", "warehouse", "label_shipment__carrier", "replacement_order",
    ).prefetch_related(
        Prefetch("lines", queryset=ReturnLine.objects.select_related(
            "order_line", "unit", "replacement_unit", "disposition_warehouse").prefetch_related("photos")
            .order_by("pk")),
        Prefetch("events", queryset=events),
        "refunds",
    )
    if not staff:
        qs = qs.filter(customer=user) if user and user.is_authenticated else qs.none()
    number = str(number).upper()
    if not NUMBER_SHAPE.fullmatch(number):  # never send odd characters (NUL...) to the database
        raise ReturnNotFound("No such return.", number=number[:40])
    try:
        return qs.get(number=number)
    except ReturnRequest.DoesNotExist:
        raise ReturnNotFound(f"No return {number}.", number=number) from None


def delivered_by_line(*, order: Order, lines: dict[int, OrderLine]) -> dict[int, tuple[int, datetime | None]]:
    """Order line id → (units delivered, when) from the delivered parcels; an order delivered without parcels
    (shipped outside Waybill) counts its shipped units as delivered when the order was."""
    delivered = delivered_lines(order_id=order.pk)
    if order.status == Order.Status.DELIVERED and any(line.pk not in delivered for line in lines.values()):
        at = (OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.STATUS, to_status=Order.Status.DELIVERED)
              .order_by("-created_at").values_list("created_at", flat=True).first()) or order.updated_at
        for line in lines.values():
            delivered.setdefault(line.pk, (line.shipped_quantity, at))
    return delivered


def returnable_quantities(*, order: Order) -> dict[int, int]:
    """Order line id → units that may still be returned: delivered minus already claimed (the window and final
    sale are the service's to explain)."""
    lines = {line.pk: line for line in OrderLine.objects.filter(order=order).select_related("product")}
    delivered = delivered_by_line(order=order, lines=lines)
    return {pk: max(delivered.get(pk, (0, None))[0] - line.returned_quantity, 0) for pk, line in lines.items()}


# --- defect traceability ---------------------------------------------------------------------------------------

def _defect_lines(start: datetime, end: datetime) -> QuerySet[ReturnLine]:
    return ReturnLine.objects.filter(
        reason=Reason.DEFECTIVE, return_request__created_at__gte=start, return_request__created_at__lt=end,
        return_request__status__in=ReturnRequest.CLAIMING)


def defect_rate_by_sku(*, start: datetime, end: datetime) -> list[dict]:
    """Per SKU over [start, end): units delivered, units claimed defective, and the rate (claims ÷ delivered).
    Two grouped queries whatever the number of products."""
    delivered = dict(
        ShipmentLine.objects.filter(shipment__direction=Shipment.Direction.OUTBOUND,
                                    shipment__status=Shipment.Status.DELIVERED,
                                    shipment__delivered_at__gte=start, shipment__delivered_at__lt=end)
        .values_list("order_line__sku").annotate(units=Sum("quantity")).values_list("order_line__sku", "units"))
    claimed = dict(_defect_lines(start, end).values_list("order_line__sku").annotate(units=Sum("quantity"))
                   .values_list("order_line__sku", "units"))
    rows = []
    for sku in sorted(set(delivered) | set(claimed)):
        units, defects = delivered.get(sku, 0), claimed.get(sku, 0)
        rows.append({"sku": sku, "delivered": units, "defective": defects,
                     "rate": round(defects / units, 4) if units else None})
    return sorted(rows, key=lambda r: (-(r["rate"] or 0), r["sku"]))


def _units_shipped(start: datetime, end: datetime, sku: str) -> QuerySet[UnitEvent]:
    return UnitEvent.objects.filter(kind=UnitEvent.Kind.SHIPPED, created_at__gte=start, created_at__lt=end,
                                    unit__product__sku=sku)


def defect_rate_by_serial_prefix(*, sku: str, start: datetime, end: datetime, length: int = 8) -> list[dict]:
    """For one serial-tracked SKU: units shipped and claimed defective per serial prefix (for an IMEI, the first
    8 digits are the type allocation code of the model and its production line)."""
    shipped = dict(_units_shipped(start, end, sku).annotate(prefix=Left("unit__serial", length))
                   .values_list("prefix").annotate(n=Count("unit_id", distinct=True)).values_list("prefix", "n"))
    claimed = dict(_defect_lines(start, end).filter(order_line__sku=sku, unit__isnull=False)
                   .annotate(prefix=Left("unit__serial", length)).values_list("prefix")
                   .annotate(n=Count("unit_id", distinct=True)).values_list("prefix", "n"))
    return [{"prefix": p, "shipped": shipped.get(p, 0), "defective": claimed.get(p, 0),
             "rate": round(claimed.get(p, 0) / shipped[p], 4) if shipped.get(p) else None}
            for p in sorted(set(shipped) | set(claimed))]


def defect_rate_by_batch(*, sku: str, start: datetime, end: datetime) -> list[dict]:
    """For one serial-tracked SKU: units shipped and claimed defective per receipt batch (where recorded)."""
    shipped = dict(_units_shipped(start, end, sku).values_list("unit__batch")
                   .annotate(n=Count("unit_id", distinct=True)).values_list("unit__batch", "n"))
    claimed = dict(_defect_lines(start, end).filter(order_line__sku=sku, unit__isnull=False)
                   .values_list("unit__batch").annotate(n=Count("unit_id", distinct=True))
                   .values_list("unit__batch", "n"))
    return [{"batch": b or "(not recorded)", "shipped": shipped.get(b, 0), "defective": claimed.get(b, 0),
             "rate": round(claimed.get(b, 0) / shipped[b], 4) if shipped.get(b) else None}
            for b in sorted(set(shipped) | set(claimed))]


def defective_serials(*, sku: str | None = None) -> QuerySet[ReturnLine]:
    """Every unit claimed defective, newest first, with its order, its return and the unit sent in its place."""
    qs = (ReturnLine.objects.filter(reason=Reason.DEFECTIVE, unit__isnull=False,
                                    return_request__status__in=ReturnRequest.CLAIMING)
          .select_related("unit__product", "replacement_unit", "return_request__order")
          .annotate(order_number=F("return_request__order__number"), return_number=F("return_request__number"))
          .order_by("-return_request__created_at", "-id"))
    return qs.filter(order_line__sku=sku) if sku else qs


