"""The order placement's first statement sets the rest of its transaction to generic plans (config.db.GENERIC_PLANS):
its later statements, prepared on a connection, are planned once there instead of for every order's values."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from inventory.selectors import product_offers
from tests.factories import ProductFactory, place_order

pytestmark = pytest.mark.django_db(transaction=True)  # each order its own transaction, as in production


def plan_cache_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('plan_cache_mode')")
        return cursor.fetchone()[0]


def test_the_setting_holds_for_the_transaction_that_asked_and_ends_with_it(postgres):
    shirt = ProductFactory(stock=3)
    with transaction.atomic():
        products, levels, _ = product_offers(skus=[shirt.sku, "NO-SUCH-SKU"], generic_plans=True)
        assert plan_cache_mode() == "force_generic_plan"
    assert list(products) == [shirt.sku] and [lv.product_id for lv in levels] == [shirt.pk]  # read as without it
    assert plan_cache_mode() == "force_custom_plan"  # the next transaction plans for its values (the settings')
    with transaction.atomic():
        product_offers(skus=["NO-SUCH-SKU"], generic_plans=True)  # a read that finds nothing sets it too
        assert plan_cache_mode() == "force_generic_plan"
    with transaction.atomic():
        product_offers(skus=[shirt.sku])
        assert plan_cache_mode() == "force_custom_plan"


def prepared(prefix: str) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
                       "FROM pg_prepared_statements WHERE statement LIKE %s", [prefix + "%"])
        return tuple(int(n) for n in cursor.fetchone())


def test_the_statements_of_an_order_run_on_their_generic_plans(postgres, settings):
    options = connection.settings_dict["OPTIONS"]
    assert options.get("server_side_binding") and options.get("prepare_threshold") == 5  # as in production
    products = [ProductFactory(stock=500) for _ in range(4)]
    before = {s: prepared(s) for s in ("WITH want", "SELECT set_config")}
    for i in range(20):  # 1 to 4 lines: the same statements whatever their number
        place_order(lines=[(p, 1) for p in products[: 1 + i % 4]])
    (stock_generic, stock_custom), (read_generic, read_custom) = (
        (a - b for a, b in zip(prepared(s), before[s], strict=True)) for s in before)
    # the stock statement: prepared from its 5th run on this connection (or earlier in the suite), from then on
    # never planned again
    assert stock_generic >= 20 - 5 and stock_custom == 0
    # the products read comes before the setting: planned for its values, as every other statement is
    assert read_generic == 0 and read_custom >= 20 - 5


def test_other_prepared_statements_are_planned_for_their_values(postgres):
    """A search run again and again keeps being planned for what it looks for: a generic plan cannot use what a
    LIKE pattern starts with, or how rare a value is (the support desk's search went from 15 to 700 ms)."""
    from orders.models import Order

    assert connection.settings_dict["OPTIONS"]["options"] == "-c plan_cache_mode=force_custom_plan"
    for i in range(12):
        list(Order.objects.filter(email__istartswith=f"someone{i}").values_list("pk", flat=True))
    generic, custom = prepared('SELECT "orders_order"."id" AS "pk" FROM "orders_order" WHERE UPPER(')
    assert generic == 0 and custom >= 12 - 5


def test_the_products_read_answers_each_sku_once_in_product_then_level_order(postgres):
    from tests.factories import WarehouseFactory

    WarehouseFactory(code="A", priority=2), WarehouseFactory(code="B", priority=1)
    mug, shirt = ProductFactory(stock={"A": 1, "B": 2}), ProductFactory(stock={"B": 3})
    products, levels, _ = product_offers(skus=[shirt.sku, mug.sku, shirt.sku, "NOPE"])
    assert sorted(products) == sorted([mug.sku, shirt.sku])
    assert [(lv.product_id, lv.pk) for lv in levels] == sorted((lv.product_id, lv.pk) for lv in levels)
    assert len(levels) == 3 and {lv.warehouse.code for lv in levels if lv.product_id == mug.pk} == {"A", "B"}
