import re

from django.db.models import F, QuerySet

from .models import LowStockAlert, Product, StockLevel, StockMovement, UnitEvent, Warehouse, serial_text


def product_list(*, active_only: bool = False) -> QuerySet[Product]:
    qs = Product.objects.all()
    return qs.filter(active=True) if active_only else qs


def stock_level_list() -> QuerySet[StockLevel]:
    return StockLevel.objects.select_related("product", "warehouse").annotate(
        available_units=F("on_hand") - F("allocated")
    )


def stock_movement_list() -> QuerySet[StockMovement]:
    return StockMovement.objects.select_related("product", "warehouse", "actor", "reference_type")


def warehouse_list() -> QuerySet[Warehouse]:
    return Warehouse.objects.all()


def low_stock_alert_list(*, open_only: bool = True) -> QuerySet[LowStockAlert]:
    qs = LowStockAlert.objects.select_related("product")
    return qs.filter(resolved_at__isnull=True) if open_only else qs


def ledger_totals() -> dict[tuple[int, int], tuple[int, int]]:
    """(product_id, warehouse_id) → (sum of on_hand deltas, sum of allocated deltas): the ledger's view."""
    from django.db.models import Sum

    rows = StockMovement.objects.values("product_id", "warehouse_id").annotate(
        on_hand=Sum("on_hand_delta"), allocated=Sum("allocated_delta")
    )
    return {(r["product_id"], r["warehouse_id"]): (r["on_hand"], r["allocated"]) for r in rows}


def serial_lookup_value(serial: str) -> str | None:
    """A looked-up serial as stored, or None for text no serial can be (control characters, other scripts)."""
    normalized = serial_text(serial)
    return normalized if re.fullmatch(r"[A-Z0-9./-]{1,64}", normalized) else None


def unit_history(*, serial: str) -> QuerySet[UnitEvent]:
    """Every step of the units with this serial (one per product that has it), oldest first: one query."""
    qs = UnitEvent.objects.select_related("unit__product", "warehouse", "actor").order_by("unit_id", "created_at",
                                                                                           "id")
    normalized = serial_lookup_value(serial)
    return qs.filter(unit__serial=normalized) if normalized else qs.none()
