"""What placing an order writes, row by row: the timeline, the outbox, the ledger, the lines and allocations.

Pinned for a 1-line and a 3-line order, through the service and through the API, so a faster way of writing
them can never change what is written. Ids, numbers, timestamps and UUIDs are replaced by what they point to.
"""

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from inventory.models import LowStockAlert, StockLevel, StockMovement
from notifications.models import OutboxMessage
from orders.models import Allocation, IdempotencyKey, IdempotentResponse, Order, OrderEvent, OrderLine
from orders.services import order_place
from tests.factories import ADDRESS, CustomerFactory, ProductFactory, WarehouseFactory, order_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    """Two warehouses. Neither has everything; the mug is split between them; the lamp (only at the first one) and
    the mug fall to their alert thresholds when the 3-line order takes them."""
    WarehouseFactory(code="NEAR", priority=1)
    WarehouseFactory(code="FAR", priority=2)
    shirt = ProductFactory(sku="SHIRT", name="Shirt", price=Decimal("19.90"), stock={"NEAR": 20, "FAR": 20})
    mug = ProductFactory(sku="MUG", name="Mug", price=Decimal("7.50"), stock={"NEAR": 1, "FAR": 2})
    lamp = ProductFactory(sku="LAMP", name="Lamp", price=Decimal("45.00"), low_stock_threshold=3,
                          stock={"NEAR": 5})
    return shirt, mug, lamp


def _since(model, first_pk):
    return list(model.objects.filter(pk__gt=first_pk).order_by("pk"))


def _last_pk(model):
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _written(order, before):
    """Every row the placement wrote, with ids and timestamps replaced by what they stand for."""
    order_type = ContentType.objects.get_for_model(Order)
    events = list(OrderEvent.objects.filter(order=order).order_by("pk"))
    event_names = {e.pk: f"event{i}" for i, e in enumerate(events)}
    lines = list(OrderLine.objects.filter(order=order).order_by("pk"))
    line_names = {line.pk: line.sku for line in lines}

    def who(user_id):
        return None if user_id is None else type(order.customer).objects.get(pk=user_id).username

    timeline = [{"kind": e.kind, "from_status": e.from_status, "to_status": e.to_status, "transition": e.transition,
                 "actor": who(e.actor_id), "text": e.text, "data": e.data, "internal": e.internal,
                 "after_placement": e.created_at >= order.placed_at} for e in events]
    outbox = []
    for m in _since(OutboxMessage, before["outbox"]):
        payload = dict(m.payload)
        if "order_number" in payload:
            assert payload.pop("order_number") == order.number
            event = next(e for e in events if f"order-event:{e.pk}" == m.idempotency_key)
            assert payload.pop("occurred_at") == event.created_at.isoformat()
        if "alert_id" in payload:
            alert = LowStockAlert.objects.get(pk=payload.pop("alert_id"))
            assert payload.pop("raised_at") == alert.created_at.isoformat()
        key = m.idempotency_key
        for pk, name in event_names.items():
            key = key.replace(f"order-event:{pk}", f"order-event:{name}")
        if key.startswith("stock.low:"):
            key = "stock.low:<alert>"
        outbox.append({
            "event": m.event, "idempotency_key": key, "payload": payload,
            "subject": (m.subject_type.model if m.subject_type_id else None,
                        order.number if m.subject_type_id == order_type.pk and m.subject_id == str(order.pk)
                        else m.subject_label),
            "customer": who(m.customer_id), "recipient": m.recipient, "marker": m.transaction_marker is not None,
            "suppressed": m.suppressed_for_customer, "dispatched": m.dispatched_at is not None,
            "processed": m.processed_at is not None,
        })
    ledger = [{"kind": m.kind, "sku": m.product.sku, "warehouse": m.warehouse.code, "quantity": m.quantity,
               "on_hand_delta": m.on_hand_delta, "allocated_delta": m.allocated_delta, "reason": m.reason,
               "actor": who(m.actor_id), "reference": (m.reference_type.model, m.reference_id == order.pk),
               "reference_label": m.reference_label.replace(order.number, "<number>")}
              for m in _since(StockMovement, before["movements"])]
    return {
        "order": {"status": order.status, "payment_status": order.payment_status, "email": order.email,
                  "customer": who(order.customer_id), "currency": order.currency, "subtotal": order.subtotal,
                  "shipping_total": order.shipping_total, "total": order.total, "ship_country": str(order.ship_country),
                  "ship_name": order.ship_name, "notes": order.notes},
        "lines": [(line.sku, line.name, line.quantity, line.unit_price, line.line_total, line.shipped_quantity,
                   line.backordered_quantity, line.backorder_expected_on) for line in lines],
        "allocations": [(line_names[a.line_id], a.product.sku, a.warehouse.code, a.quantity, a.shipped, a.released)
                        for a in Allocation.objects.filter(order=order).order_by("pk")],
        "timeline": timeline,
        "outbox": outbox,
        "ledger": ledger,
        "levels": {(lv.product.sku, lv.warehouse.code): (lv.on_hand, lv.allocated)
                   for lv in StockLevel.objects.select_related("product", "warehouse")},
        "alerts": [(a.product.sku, a.available, a.threshold, a.resolved_at) for a in _since(LowStockAlert,
                                                                                              before["alerts"])],
    }


def _before():
    return {"outbox": _last_pk(OutboxMessage), "movements": _last_pk(StockMovement), "alerts": _last_pk(LowStockAlert)}


def _placed_entry(actor):
    return {"kind": "status", "from_status": "", "to_status": "placed", "transition": "place", "actor": actor,
            "text": "Order placed", "data": {}, "internal": False, "after_placement": True}


def _placed_message(buyer, lines, total):
    return {
        "event": "order.placed", "idempotency_key": "order-event:event0",
        "payload": {"status": "placed", "status_display": "Placed", "previous_status": "", "transition": "place",
                    "kind": "status", "reason": "Order placed", "data": {},
                    "payment_status": "unpaid", "customer_name": ADDRESS["name"], "email": buyer.email,
                    "total": total, "currency": "EUR", "lines": lines,
                    "shipping_address": {**{k: "" for k in ("line2", "region")}, **ADDRESS}},
        "subject": ("order", "<the order>"), "customer": buyer.username, "recipient": buyer.email, "marker": False,
        "suppressed": False, "dispatched": True, "processed": False,
    }


def _line(sku, name, quantity):
    return {"sku": sku, "name": name, "quantity": quantity, "shipped_quantity": 0, "backordered_quantity": 0,
            "backorder_expected_on": ""}


def _low_stock_message(label, available, threshold):
    sku, name = label.split(" · ")
    return {"event": "stock.low", "idempotency_key": "stock.low:<alert>",
            "payload": {"product_sku": sku, "product_name": name, "available": available, "threshold": threshold},
            "subject": ("product", label), "customer": None, "recipient": "", "marker": False,
            "suppressed": False, "dispatched": True, "processed": False}


def _allocation_movement(sku, warehouse, quantity, actor):
    return {"kind": "allocation", "sku": sku, "warehouse": warehouse, "quantity": quantity, "on_hand_delta": 0,
            "allocated_delta": quantity, "reason": "", "actor": actor, "reference": ("order", True),
            "reference_label": "order <number>"}


def _normalised(rows, order):
    for message in rows["outbox"]:
        if message["subject"] == ("order", order.number):
            message["subject"] = ("order", "<the order>")
    return rows


ONE_LINE_LEVELS = {("SHIRT", "NEAR"): (20, 2), ("SHIRT", "FAR"): (20, 0), ("MUG", "NEAR"): (1, 0),
                   ("MUG", "FAR"): (2, 0), ("LAMP", "NEAR"): (5, 0)}
THREE_LINE_LEVELS = {("SHIRT", "NEAR"): (20, 1), ("SHIRT", "FAR"): (20, 0), ("MUG", "NEAR"): (1, 1),
                     ("MUG", "FAR"): (2, 2), ("LAMP", "NEAR"): (5, 4)}


def _expected_one_line(buyer):
    return {
        "order": {"status": "placed", "payment_status": "unpaid", "email": buyer.email, "customer": buyer.username,
                  "currency": "EUR", "subtotal": Decimal("39.80"), "shipping_total": Decimal("0.00"),
                  "total": Decimal("39.80"), "ship_country": "GB", "ship_name": ADDRESS["name"], "notes": ""},
        "lines": [("SHIRT", "Shirt", 2, Decimal("19.90"), Decimal("39.80"), 0, 0, None)],
        "allocations": [("SHIRT", "SHIRT", "NEAR", 2, 0, 0)],
        "timeline": [_placed_entry(buyer.username)],
        "outbox": [_placed_message(buyer, [_line("SHIRT", "Shirt", 2)], "39.80")],
        "ledger": [_allocation_movement("SHIRT", "NEAR", 2, buyer.username)],
        "levels": ONE_LINE_LEVELS,
        "alerts": [],
    }


def _expected_three_lines(buyer):
    return {
        "order": {"status": "placed", "payment_status": "unpaid", "email": buyer.email, "customer": buyer.username,
                  "currency": "EUR", "subtotal": Decimal("222.40"), "shipping_total": Decimal("0.00"),
                  "total": Decimal("222.40"), "ship_country": "GB", "ship_name": ADDRESS["name"], "notes": ""},
        "lines": [("SHIRT", "Shirt", 1, Decimal("19.90"), Decimal("19.90"), 0, 0, None),
                  ("MUG", "Mug", 3, Decimal("7.50"), Decimal("22.50"), 0, 0, None),
                  ("LAMP", "Lamp", 4, Decimal("45.00"), Decimal("180.00"), 0, 0, None)],
        # no warehouse has everything: each line from its best warehouse, the mug split between both
        "allocations": [("SHIRT", "SHIRT", "NEAR", 1, 0, 0), ("MUG", "MUG", "NEAR", 1, 0, 0),
                        ("MUG", "MUG", "FAR", 2, 0, 0), ("LAMP", "LAMP", "NEAR", 4, 0, 0)],
        "timeline": [_placed_entry(buyer.username)],
        "outbox": [
            _placed_message(buyer, [_line("SHIRT", "Shirt", 1), _line("MUG", "Mug", 3), _line("LAMP", "Lamp", 4)],
                            "222.40"),
            # the mug and the lamp fell to their thresholds: staff hear of it in the same transaction
            _low_stock_message("MUG · Mug", 0, 2),
            _low_stock_message("LAMP · Lamp", 1, 3),
        ],
        "ledger": [_allocation_movement("SHIRT", "NEAR", 1, buyer.username),
                   _allocation_movement("MUG", "NEAR", 1, buyer.username),
                   _allocation_movement("MUG", "FAR", 2, buyer.username),
                   _allocation_movement("LAMP", "NEAR", 4, buyer.username)],
        "levels": THREE_LINE_LEVELS,
        "alerts": [("MUG", 0, 2, None), ("LAMP", 1, 3, None)],
    }


ONE_LINE = [("SHIRT", 2)]
THREE_LINES = [("SHIRT", 1), ("MUG", 3), ("LAMP", 4)]


@pytest.mark.parametrize("lines", [ONE_LINE, THREE_LINES], ids=["1-line", "3-lines"])
@pytest.mark.parametrize("key", [None, "pin-key"], ids=["no-key", "idempotency-key"])
def test_the_service_writes_exactly_these_rows(shop, lines, key):
    # given a customer and the shop's stock
    buyer = CustomerFactory()
    before = _before()

    # when an order is placed through the service
    order, created = order_place(customer=buyer, email=buyer.email, shipping_address=dict(ADDRESS), actor=buyer,
                                 lines=[{"sku": sku, "quantity": q} for sku, q in lines], idempotency_key=key,
                                 fingerprint="f" if key else "")

    # then exactly these rows were written
    assert created
    expected = _expected_one_line(buyer) if lines == ONE_LINE else _expected_three_lines(buyer)
    assert _normalised(_written(Order.objects.get(pk=order.pk), before), order) == expected
    assert list(IdempotencyKey.objects.values_list("key", "fingerprint", "order_id")) == (
        [(key, "f", order.pk)] if key else [])


@pytest.mark.parametrize("lines", [ONE_LINE, THREE_LINES], ids=["1-line", "3-lines"])
def test_the_api_writes_exactly_these_rows(shop, api_client, lines):
    # given a signed-in customer
    buyer = CustomerFactory()
    api_client.force_authenticate(buyer)
    products = {p.sku: p for p in (shop)}
    before = _before()

    # when the customer places an order over the API with an Idempotency-Key
    response = api_client.post("/api/orders/", order_payload(*[(products[sku], q) for sku, q in lines]),
                               format="json", headers={"Idempotency-Key": "pin-api"})

    # then the same rows as through the service, and one key kept with the answer
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    expected = _expected_one_line(buyer) if lines == ONE_LINE else _expected_three_lines(buyer)
    assert _normalised(_written(order, before), order) == expected
    kept = IdempotentResponse.objects.get(key="pin-api")
    assert (kept.status_code, kept.content) == (201, response.content.decode())
