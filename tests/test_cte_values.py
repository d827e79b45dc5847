"""config.cte.Rows(values=...): rows nothing reads back, written from dicts without building an instance each, and
the same rows as from instances (defaults, auto_now_add, values prepared by their fields)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from config import cte
from inventory.models import StockMovement, Warehouse
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

COLUMNS = ["kind", "product_id", "warehouse_id", "quantity", "on_hand_delta", "allocated_delta", "reason", "actor_id",
           "reference_type_id", "reference_id", "reference_label"]


def test_rows_from_values_are_the_rows_instances_would_write(postgres):
    product = ProductFactory(stock=5)  # and its warehouse
    warehouse = Warehouse.objects.get(stock_levels__product=product)
    given = {"kind": StockMovement.Kind.ALLOCATION, "product_id": product.pk, "warehouse_id": warehouse.pk,
             "quantity": 2, "allocated_delta": 2}
    before = timezone.now()
    written, _ = cte.insert_together(
        cte.Rows("a", StockMovement, values=[given, {**given, "quantity": 3, "reason": "élan 😀"}]),
        cte.Rows("b", StockMovement, [StockMovement(**given)]),
    )
    by_values = StockMovement.objects.filter(pk__in=[row[0] for row in written["a"]]).order_by("pk")
    by_object = StockMovement.objects.get(pk=written["b"][0][0])
    assert [m.quantity for m in by_values] == [2, 3] and by_values[1].reason == "élan 😀"
    assert ({c: getattr(by_values[0], c) for c in COLUMNS} == {c: getattr(by_object, c) for c in COLUMNS})
    assert by_values[0].on_hand_delta == 0 and by_values[0].reason == ""  # the fields' defaults
    assert all(before <= m.created_at <= timezone.now() for m in by_values)  # auto_now_add


def test_a_value_for_no_column_or_objects_and_values_together_are_refused(postgres):
    with pytest.raises(ValueError, match="no column colour"):
        cte.Rows("a", StockMovement, values=[{"quantity": 1, "colour": "red"}])
    with pytest.raises(ValueError, match="objects or values"):
        cte.Rows("a", StockMovement, [StockMovement(quantity=1)], values=[{"quantity": 1}])
    with pytest.raises(ValueError, match="at least one row"):
        cte.Rows("a", StockMovement, values=[])


def test_relations_given_as_sql_are_set_on_the_objects_once_written(postgres):
    from orders.services import order_place
    from tests.factories import ADDRESS

    product = ProductFactory(stock=5)
    order, _ = order_place(email="guest@example.com", shipping_address=dict(ADDRESS), keep_related=True,
                           lines=[{"sku": product.sku, "quantity": 2}])
    # the lines and allocations were built before the order had a key: written, they have the keys and objects
    (line,), (allocation,) = order.lines.all(), order.allocations.all()
    assert line.order_id == order.pk and line.order is order
    assert (allocation.order_id, allocation.line_id) == (order.pk, line.pk) and allocation.line is line
