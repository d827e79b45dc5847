"""The order lifecycle: every allowed transition, a sample of forbidden ones, stock and timeline effects."""

import pytest

from inventory.models import StockLevel, StockMovement
from orders.errors import InvalidOrder, TransitionNotAllowed, TransitionNotFound
from orders.models import Order, OrderEvent
from orders.services import order_add_note, order_set_payment_status, order_ship_items, order_transition
from orders.signals import order_event_recorded
from tests.factories import ProductFactory, WarehouseFactory, advance_order, place_order

pytestmark = pytest.mark.django_db


def _snapshot(order):
    """Everything a refused transition must leave alone."""
    order = Order.objects.get(pk=order.pk)
    levels = sorted(StockLevel.objects.values_list("pk", "on_hand", "allocated"))
    return order.status, order.status_before_hold, levels, order.events.count(), StockMovement.objects.count()


def _level(product):
    level = StockLevel.objects.get(product=product)
    return level.on_hand, level.allocated


ALLOWED = [
    ("placed", "confirm", "confirmed"),
    ("confirmed", "start_processing", "processing"),
    ("processing", "pack", "packed"),
    ("packed", "ship", "shipped"),
    ("shipped", "deliver", "delivered"),
    ("placed", "cancel", "cancelled"),
    ("confirmed", "cancel", "cancelled"),
    ("processing", "cancel", "cancelled"),
    ("placed", "hold", "on_hold"),
    ("confirmed", "hold", "on_hold"),
    ("processing", "hold", "on_hold"),
]


@pytest.mark.parametrize(("start", "name", "target"), ALLOWED)
def test_allowed_transition_moves_the_order_and_records_an_event(start, name, target, manager_user):
    # given an order in `start`
    order = advance_order(place_order(lines=[(ProductFactory(stock=10), 3)]), start)
    events_before = order.events.count()

    # when staff fire the transition
    result = order_transition(order=order, name=name, actor=manager_user, reason=f"because {name}")

    # then the order is in `target`, stored, and the timeline says who did what and why
    assert result.status == target
    assert Order.objects.get(pk=order.pk).status == target
    assert order.events.count() == events_before + 1
    event = order.events.order_by("-id").first()
    assert (event.kind, event.from_status, event.to_status, event.transition) == ("status", start, target, name)
    assert (event.actor, event.text) == (manager_user, f"because {name}")


@pytest.mark.parametrize("start", ["placed", "confirmed", "processing"])
def test_release_returns_a_held_order_to_the_exact_state_it_was_in(start, manager_user):
    # given an order put on hold from `start`
    order = advance_order(place_order(), start)
    order = order_transition(order=order, name="hold", actor=manager_user, reason="address check")
    assert order.status == "on_hold"

    # when the hold is released
    order = order_transition(order=order, name="release", actor=manager_user)

    # then it is back where it was, and the timeline shows on_hold -> start
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.status_before_hold) == (start, "")
    event = stored.events.order_by("-id").first()
    assert (event.from_status, event.to_status, event.transition, event.actor) == (
        "on_hold", start, "release", manager_user
    )


FORBIDDEN = [
    ("placed", "deliver"),
    ("placed", "pack"),
    ("placed", "release"),
    ("confirmed", "ship"),
    ("confirmed", "confirm"),
    ("processing", "deliver"),
    ("packed", "hold"),
    ("packed", "cancel"),
    ("shipped", "cancel"),
    ("shipped", "hold"),
    ("delivered", "cancel"),
    ("delivered", "ship"),
    ("cancelled", "cancel"),
    ("cancelled", "confirm"),
    ("cancelled", "release"),
    ("on_hold", "confirm"),
    ("on_hold", "cancel"),
]


@pytest.mark.parametrize(("start", "name"), FORBIDDEN)
def test_forbidden_transition_is_refused_and_changes_nothing(start, name, manager_user):
    # given an order in `start` and staff who hold every lifecycle permission
    order = advance_order(place_order(lines=[(ProductFactory(stock=10), 3)]), start)
    before = _snapshot(order)

    # when they ask for a transition that state does not allow
    with pytest.raises(TransitionNotAllowed) as refused:
        order_transition(order=order, name=name, actor=manager_user, reason="trying")

    # then it is refused as not allowed (not as a permission problem), naming what is allowed, and nothing moved
    assert refused.value.extra["status"] == start
    assert name not in refused.value.extra["allowed"]
    assert _snapshot(order) == before


def test_internal_transition_cannot_be_asked_for_by_name(manager_user):
    # given a packed order
    order = advance_order(place_order(), "packed")
    before = _snapshot(order)

    # when someone asks for the shipping service's internal step by name
    with pytest.raises(TransitionNotFound):
        order_transition(order=order, name="ship_partially", actor=manager_user)

    # then nothing changes
    assert _snapshot(order) == before


@pytest.mark.parametrize("name", ["cancel", "hold"])
def test_cancel_and_hold_need_a_reason(name, manager_user):
    order = place_order()
    before = _snapshot(order)

    with pytest.raises(InvalidOrder) as refused:
        order_transition(order=order, name=name, actor=manager_user, reason="   ")

    assert "reason" in refused.value.extra["fields"]
    assert _snapshot(order) == before


@pytest.mark.parametrize("start", ["placed", "confirmed", "processing"])
def test_cancel_releases_every_allocation(start, manager_user):
    # given an order whose one line is split over two warehouses (2 + 4 units)
    first, second = WarehouseFactory(code="C1", priority=1), WarehouseFactory(code="C2", priority=2)
    product = ProductFactory(stock={"C1": 2, "C2": 5})
    order = advance_order(place_order(lines=[(product, 6)]), start)
    assert sorted(order.allocations.values_list("warehouse__code", "quantity")) == [("C1", 2), ("C2", 4)]

    # when it is cancelled
    order_transition(order=order, name="cancel", actor=manager_user, reason="customer changed their mind")

    # then each warehouse's allocation is released in the ledger and nothing stays allocated
    levels = {lv.warehouse_id: (lv.on_hand, lv.allocated) for lv in StockLevel.objects.filter(product=product)}
    assert levels == {first.pk: (2, 0), second.pk: (5, 0)}
    releases = StockMovement.objects.filter(kind="release", product=product)
    assert sorted(releases.values_list("warehouse__code", "quantity", "allocated_delta", "on_hand_delta")) == [
        ("C1", 2, -2, 0), ("C2", 4, -4, 0)
    ]
    assert set(releases.values_list("reference_label", flat=True)) == {f"order {order.number}"}
    assert set(releases.values_list("actor", flat=True)) == {manager_user.pk}
    assert list(order.allocations.values_list("quantity", "released", "shipped")) == [(0, 2, 0), (0, 4, 0)]


def test_ship_turns_allocations_into_shipments(manager_user):
    # given a packed order for 3 of 10 units
    product = ProductFactory(stock=10)
    order = advance_order(place_order(lines=[(product, 3)]), "packed")
    assert _level(product) == (10, 3)

    # when it ships
    order_transition(order=order, name="ship", actor=manager_user, reason="Collected at the counter")

    # then the units leave: on_hand and allocated both fall, the ledger has a shipment, the line is shipped
    assert _level(product) == (7, 0)
    shipment = StockMovement.objects.get(kind="shipment", product=product)
    assert (shipment.quantity, shipment.on_hand_delta, shipment.allocated_delta) == (3, -3, -3)
    assert order.lines.get().shipped_quantity == 3
    assert list(order.allocations.values_list("quantity", "shipped")) == [(0, 3)]


def test_ship_items_partially_then_the_rest(manager_user):
    # given a packed order with two lines
    wh = WarehouseFactory(code="S1", priority=1)
    shirt, mug = ProductFactory(stock={"S1": 10}), ProductFactory(stock={"S1": 10})
    order = advance_order(place_order(lines=[(shirt, 2), (mug, 3)]), "packed")
    shirt_line, mug_line = order.lines.get(product=shirt), order.lines.get(product=mug)

    # when part of it ships
    order = order_ship_items(order=order, items=[(shirt_line.pk, wh.pk, 2), (mug_line.pk, wh.pk, 1)],
                             actor=manager_user, reason="first parcel")

    # then the order is partially shipped and only those units left
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert (_level(shirt), _level(mug)) == ((8, 0), (9, 2))
    event = order.events.order_by("-id").first()
    assert (event.from_status, event.to_status, event.actor, event.text) == (
        "packed", "partially_shipped", manager_user, "first parcel"
    )

    # when the rest ships
    order = order_ship_items(order=order, items=[(mug_line.pk, wh.pk, 2)], actor=manager_user, reason="second parcel")

    # then it is shipped, nothing shipped twice, and every line is fully sent
    assert Order.objects.get(pk=order.pk).status == "shipped"
    assert (_level(shirt), _level(mug)) == ((8, 0), (7, 0))
    assert sorted(order.lines.values_list("quantity", "shipped_quantity")) == [(2, 2), (3, 3)]
    assert StockMovement.objects.filter(kind="shipment").count() == 3
    event = order.events.order_by("-id").first()
    assert (event.from_status, event.to_status, event.transition) == ("partially_shipped", "shipped", "ship")


def test_ship_transition_after_partial_shipment_sends_only_the_rest(manager_user):
    # given a partially shipped order (1 of 4 units sent)
    wh = WarehouseFactory(code="S2", priority=1)
    product = ProductFactory(stock={"S2": 10})
    order = advance_order(place_order(lines=[(product, 4)]), "packed")
    order = order_ship_items(order=order, items=[(order.lines.get().pk, wh.pk, 1)], actor=manager_user)

    # when staff ship everything
    order = order_transition(order=order, name="ship", actor=manager_user, reason="The rest went by pallet")

    # then the other 3 leave, and only those
    assert order.status == "shipped"
    assert _level(product) == (6, 0)
    assert sorted(StockMovement.objects.filter(kind="shipment").values_list("quantity", flat=True)) == [1, 3]


def test_ship_items_more_than_waiting_is_refused_and_changes_nothing(manager_user):
    # given a packed order for 2 units
    wh = WarehouseFactory(code="S3", priority=1)
    order = advance_order(place_order(lines=[(ProductFactory(stock={"S3": 10}), 2)]), "packed")
    before = _snapshot(order)

    # when someone ships 3
    with pytest.raises(InvalidOrder) as refused:
        order_ship_items(order=order, items=[(order.lines.get().pk, wh.pk, 3)], actor=manager_user)

    # then it is refused naming the item, and nothing changes
    assert "items[0]" in refused.value.extra["fields"]
    assert _snapshot(order) == before


def test_ship_items_before_packing_is_not_allowed(manager_user):
    wh = WarehouseFactory(code="S4", priority=1)
    order = advance_order(place_order(lines=[(ProductFactory(stock={"S4": 10}), 2)]), "confirmed")
    before = _snapshot(order)

    with pytest.raises(TransitionNotAllowed):
        order_ship_items(order=order, items=[(order.lines.get().pk, wh.pk, 1)], actor=manager_user)

    assert _snapshot(order) == before


def test_every_status_change_is_on_the_timeline_in_order(manager_user):
    # given an order taken all the way to delivered
    order = advance_order(place_order(), "delivered", actor=manager_user)

    # then its timeline lists each step with from and to
    steps = list(order.events.filter(kind=OrderEvent.Kind.STATUS).values_list("from_status", "to_status"))
    assert steps == [
        ("", "placed"), ("placed", "confirmed"), ("confirmed", "processing"), ("processing", "packed"),
        ("packed", "shipped"), ("shipped", "delivered"),
    ]
    assert set(order.events.exclude(transition="place").values_list("actor", flat=True)) == {manager_user.pk}


def test_support_agent_may_cancel_but_not_confirm(agent_user):
    from orders.errors import TransitionForbidden

    # given a placed order
    product = ProductFactory(stock=10)
    order = place_order(lines=[(product, 2)])
    before = _snapshot(order)

    # when a support agent tries to confirm it, it is forbidden and nothing changes
    with pytest.raises(TransitionForbidden):
        order_transition(order=order, name="confirm", actor=agent_user)
    assert _snapshot(order) == before

    # when the agent cancels it, it is cancelled
    assert order_transition(order=order, name="cancel", actor=agent_user, reason="fraud").status == "cancelled"
    assert _level(product) == (10, 0)


def test_every_timeline_entry_is_announced_once(manager_user):
    heard = []

    def listen(sender, order, event, **kwargs):
        assert OrderEvent.objects.filter(pk=event.pk, order=order).exists()  # already written
        heard.append((event.kind, event.transition or event.to_status or event.text))

    order_event_recorded.connect(listen)
    try:
        # when an order is placed, confirmed, noted, paid, refused a transition, and cancelled
        order = place_order()
        order_transition(order=order, name="confirm", actor=manager_user)
        order_add_note(order=order, author=manager_user, text="VIP", internal=True)
        order_set_payment_status(order=order, payment_status="paid", actor=manager_user)
        order_set_payment_status(order=order, payment_status="paid", actor=manager_user)  # no change, no entry
        with pytest.raises(TransitionNotAllowed):
            order_transition(order=order, name="deliver", actor=manager_user)
        order_transition(order=order, name="cancel", actor=manager_user, reason="changed mind")
    finally:
        order_event_recorded.disconnect(listen)

    # then each timeline entry was announced once, and the refusal announced nothing
    assert heard == [("status", "place"), ("status", "confirm"), ("note", "VIP"), ("payment", "paid"),
                     ("status", "cancel")]
    assert order.events.count() == len(heard)


def test_payment_status_changes_are_on_the_timeline(manager_user):
    order = place_order()

    order_set_payment_status(order=order, payment_status="paid", actor=manager_user, reason="card captured")
    with pytest.raises(InvalidOrder) as refused:
        order_set_payment_status(order=order, payment_status="free", actor=manager_user)

    assert "payment_status" in refused.value.extra["fields"]
    stored = Order.objects.get(pk=order.pk)
    assert stored.payment_status == "paid"
    event = stored.events.get(kind="payment")
    assert (event.from_status, event.to_status, event.actor, event.text) == (
        "unpaid", "paid", manager_user, "card captured"
    )


def test_timeline_announcement_is_part_of_the_transition_transaction(manager_user):
    # given a receiver that fails while hearing of a confirmation (as an outbox write might)
    product = ProductFactory(stock=10)
    order = place_order(lines=[(product, 2)])
    before = _snapshot(order)

    def failing(sender, order, event, **kwargs):
        raise RuntimeError("outbox unavailable")

    order_event_recorded.connect(failing)
    try:
        # when the order is confirmed
        with pytest.raises(RuntimeError):
            order_transition(order=order, name="confirm", actor=manager_user)
    finally:
        order_event_recorded.disconnect(failing)

    # then the confirmation rolled back with it: announcement and change commit together or not at all
    assert _snapshot(order) == before
