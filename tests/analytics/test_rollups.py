"""The rollups stay equal to a recomputation from scratch, whatever happens and whenever the refresh runs: orders
placed now (no work in their transaction), changes to orders of closed days (marked in the change's transaction),
a refresh that did not run for days, twice in a row, at the same time, or after the shop's time zone changed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.facts import OrderDay, OrderFact, ParcelDay, ParcelSpan, RollupState, StaleOrder
from analytics.rollups import LOCK_KEY, ROLLUP_MODELS, rollups_catch_up, rollups_rebuild, rollups_refresh
from orders.models import Order
from orders.services import order_set_payment_status, order_transition
from returns.services import refund_issue, return_approve, return_create, return_resolve
from shipping.services import shipment_create_all, shipment_transition
from tests.analytics.conftest import at, travel
from tests.factories import CustomerFactory, ProductFactory, WarehouseFactory, place_order
from tests.returns.conftest import carrier_event
from tests.shipping.conftest import pack

pytestmark = pytest.mark.django_db


def snapshot() -> dict:
    """Every rollup row, in a stable order, without surrogate ids."""
    out = {}
    for model in ROLLUP_MODELS:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        out[model.__name__] = list(model.objects.order_by(*fields).values_list(*fields))
    return out


def assert_equal_to_a_rebuild() -> None:
    """A rebuild at the moment of the last refresh (the RFM segments kept are as of its day) gives the same rows."""
    incremental = snapshot()
    with travel(RollupState.objects.get().refreshed_at):
        rollups_rebuild()
    assert snapshot() == incremental


@pytest.fixture
def catalogue(db, berlin):
    with travel(at(5, 1)):
        WarehouseFactory(code="BER", priority=1)
        WarehouseFactory(code="MAD", priority=2)
        products = [ProductFactory(sku=f"P-{i}", price=Decimal(price), stock={"BER": 40, "MAD": 40})
                    for i, price in enumerate(("10.00", "25.50", "3.99"))]
        people = [CustomerFactory(email=f"c{i}@example.com") for i in range(3)]
    return products, people


def test_placing_an_order_does_no_rollup_work(catalogue):
    products, people = catalogue
    with travel(at(5, 4)):
        rollups_refresh()
        with CaptureQueriesContext(connection) as placed:
            place_order(customer=people[0], lines=[(products[0], 1)])
    assert not [q for q in placed.captured_queries if "analytics_" in q["sql"]]
    assert not StaleOrder.objects.exists()


def test_a_change_to_an_order_of_a_closed_day_is_marked_in_its_transaction(catalogue):
    products, people = catalogue
    with travel(at(5, 4)):
        order = place_order(customer=people[0], lines=[(products[0], 2)])
    with travel(at(5, 6)):
        rollups_refresh()  # 4 May is closed now
        assert RollupState.objects.get().closed_through == at(5, 5).date()
        with pytest.raises(RuntimeError), transaction.atomic():
            order_transition(order=order.number, name="cancel", reason="no", check_permission=False)
            assert StaleOrder.objects.filter(order_id=order.pk).count() == 1
            raise RuntimeError("rolled back")
        assert not StaleOrder.objects.exists()  # a change that rolled back leaves no mark
        order_transition(order=order.number, name="cancel", reason="no", check_permission=False)
        assert list(StaleOrder.objects.values_list("order_id", flat=True)) == [order.pk]
        run = rollups_refresh()
    assert (run.kind, run.stale) == ("refresh", 1)
    assert not StaleOrder.objects.exists()
    assert OrderFact.objects.get(order_id=order.pk).cancelled
    assert OrderDay.objects.get(day=at(5, 4).date()).cancelled_orders == 1
    assert_equal_to_a_rebuild()


def test_a_parcel_of_an_old_order_is_counted_on_the_day_it_left(catalogue):
    # given an order of 4 May, counted and closed
    products, people = catalogue
    with travel(at(5, 4, 9)):
        order = place_order(customer=people[0], lines=[(products[0], 1)])
        order_set_payment_status(order=order.number, payment_status="paid")
    with travel(at(5, 6)):
        rollups_refresh()
        assert not ParcelDay.objects.exists()
    # when its parcel leaves on 6 May, 51 h after the order, and arrives on 8 May, 54 h later, with a refresh each time
    with travel(at(5, 6, 12)):
        (parcel,) = shipment_create_all(order=pack(order).number, carrier="local")
        for name in ("pick", "pack", "create_label"):
            shipment_transition(shipment=parcel.pk, name=name)
        parcel.refresh_from_db()
        carrier_event(parcel, "PICKED_UP")
        assert StaleOrder.objects.filter(order_id=order.pk).exists()
        rollups_refresh()
    shipped = ParcelDay.objects.get(measure="shipped")
    assert (shipped.day, shipped.hours, shipped.least, shipped.parcels) == (at(5, 6).date(), 51, 51.0, 1)
    assert ParcelSpan.objects.filter(measure="shipped", grain="week").get().start == at(5, 4).date()
    assert not ParcelDay.objects.filter(measure="delivered").exists()
    assert_equal_to_a_rebuild()
    with travel(at(5, 8, 18)):
        carrier_event(parcel, "DELIVERED")
        rollups_refresh()
    # then both its hours count on the day it left, as a rebuild has them
    delivered = ParcelDay.objects.get(measure="delivered")
    assert (delivered.day, delivered.hours, delivered.greatest) == (at(5, 6).date(), 54, 54.0)
    assert ParcelDay.objects.get(measure="shipped").with_promise == 1
    assert_equal_to_a_rebuild()


def test_the_refresh_catches_up_after_days_without_it(catalogue):
    products, people = catalogue
    with travel(at(5, 2)):
        rollups_refresh()
    for day in range(3, 9):
        with travel(at(5, day, 23, 50)):
            place_order(customer=people[day % 3], lines=[(products[day % 3], day % 2 + 1)])
    with travel(at(5, 9, 10)):
        run = rollups_refresh()
    assert run.orders == 6
    assert OrderDay.objects.filter(day__range=(at(5, 3).date(), at(5, 8).date())).count() == 6
    assert_equal_to_a_rebuild()


def test_refreshing_twice_changes_nothing(catalogue):
    products, people = catalogue
    with travel(at(5, 4)):
        place_order(customer=people[0], lines=[(products[0], 1), (products[1], 2)])
        place_order(email="Someone@Example.com", lines=[(products[2], 1)])
        rollups_refresh()
        first = snapshot()
        rollups_refresh()
    assert snapshot() == first
    assert sum(len(rows) for rows in first.values()) > 0


def test_a_second_refresh_waits_for_none_and_skips(catalogue):
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        run = rollups_refresh()
        assert (run.kind, run.reason) == ("skipped", "another refresh is running")
    finally:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        other.close()


def test_a_new_time_zone_rebuilds_everything(catalogue, settings):
    products, people = catalogue
    with travel(at(5, 4, 0, 30)):  # 4 May in Berlin, 3 May in UTC
        place_order(customer=people[0], lines=[(products[0], 1)])
        rollups_refresh()
    assert list(OrderDay.objects.values_list("day", flat=True)) == [at(5, 4).date()]
    settings.TIME_ZONE = "UTC"
    with travel(at(5, 4, 12)):
        run = rollups_refresh()
    assert run.kind == "rebuild"
    assert list(OrderDay.objects.values_list("day", flat=True)) == [at(5, 3).date()]


def test_the_periodic_task_catches_up_in_batches(catalogue):
    products, people = catalogue
    with travel(at(5, 4)):
        orders = [place_order(customer=people[i % 3], lines=[(products[0], 1)]) for i in range(5)]
    with travel(at(5, 7)):
        rollups_refresh()
        for order in orders:
            order_transition(order=order.number, name="cancel", reason="no", check_permission=False)
        assert StaleOrder.objects.count() == 5
    with travel(at(5, 7)):
        result = rollups_catch_up(batch=2)  # two stale orders per transaction
    assert (result["runs"], result["stale"], result["more"]) == (3, 5, False)
    assert OrderDay.objects.get(day=at(5, 4).date()).cancelled_orders == 5
    assert_equal_to_a_rebuild()


# --- property: any sequence of orders, cancellations, refunds and returns, refreshed at any time ----------------

PLACE = st.tuples(st.just("place"), st.integers(0, 3),
                  st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)), min_size=1, max_size=3,
                           unique_by=lambda line: line[0]))
CANCEL = st.tuples(st.just("cancel"), st.integers(0, 20))
REFUND = st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100))
RETURN = st.tuples(st.just("return"), st.integers(0, 20))
SHIP = st.tuples(st.just("ship"), st.integers(0, 20))  # handed to the carrier now; delivered now if it was already
LATER = st.tuples(st.just("later"), st.integers(1, 60))
REFRESH = st.tuples(st.just("refresh"))
STEPS = st.lists(st.one_of(PLACE, PLACE, CANCEL, REFUND, RETURN, SHIP, LATER, LATER, REFRESH), min_size=4,
                 max_size=14)


def _play(step, *, orders, products, people) -> None:
    kind = step[0]
    if kind == "place":
        who = people[step[1]] if step[1] < len(people) else None
        orders.append(place_order(customer=who, email=None if who else "Guest@Example.com",
                                  lines=[(products[i], qty) for i, qty in step[2]]))
        return
    if not orders:
        return
    order = Order.objects.get(pk=orders[step[1] % len(orders)].pk)
    if kind == "cancel" and order.status in (Order.Status.PLACED, Order.Status.CONFIRMED):
        order_transition(order=order.number, name="cancel", reason="changed", check_permission=False)
    elif kind == "refund" and order.status != Order.Status.CANCELLED:
        if order.payment_status == Order.PaymentStatus.UNPAID:
            order = order_set_payment_status(order=order.number, payment_status="paid")
        amount = (order.total - order.refunded_total) * step[2] / 100
        if amount >= Decimal("0.01"):
            refund_issue(order=order.number, items_amount=amount.quantize(Decimal("0.01")), reason="goodwill")
    elif kind == "ship" and order.status == Order.Status.PLACED:
        order_set_payment_status(order=order.number, payment_status="paid")
        for parcel in shipment_create_all(order=pack(order).number, carrier="local"):
            for name in ("pick", "pack", "create_label"):
                shipment_transition(shipment=parcel.pk, name=name)
            parcel.refresh_from_db()
            carrier_event(parcel, "PICKED_UP")
    elif kind == "ship" and order.status == Order.Status.SHIPPED:
        for parcel in order.shipments.order_by("pk"):
            carrier_event(parcel, "DELIVERED")
    elif kind == "return" and order.status in (Order.Status.PLACED, Order.Status.DELIVERED):
        if order.status == Order.Status.PLACED:
            order_set_payment_status(order=order.number, payment_status="paid")
            for name in ("confirm", "start_processing", "ship", "deliver"):
                order_transition(order=order.number, name=name, reason="sent by hand", check_permission=False)
        line = order.lines.order_by("pk").first()
        if line.quantity - line.returned_quantity < 1:
            return
        claim = return_create(order=order.number, resolution="refund",
                              lines=[{"line": line.pk, "quantity": 1, "reason": "defective"}])
        return_approve(return_request=claim.number, handling="keep_it", send_label=False)
        order.refresh_from_db()
        refundable = min(line.unit_price, order.total - order.refunded_total)
        if refundable > 0:  # never more back than was paid (an earlier refund may have taken most of it)
            return_resolve(return_request=claim.number, refund_amount=refundable)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_rollups_equal_a_recomputation_after_any_sequence(catalogue, steps):
    products, people = catalogue
    with transaction.atomic():
        moment, orders = at(5, 4, 9), []
        with travel(moment):
            rollups_rebuild()
        for step in steps:
            if step[0] == "later":
                moment += timedelta(hours=step[1])
                continue
            with travel(moment):
                if step[0] == "refresh":
                    rollups_refresh()
                else:
                    _play(step, orders=orders, products=products, people=people)
        with travel(moment + timedelta(minutes=1)):
            rollups_refresh()
            assert_equal_to_a_rebuild()
        transaction.set_rollback(True)
