"""Malformed bodies to every write endpoint get a 4xx with {code, message, extra}, never a 500."""

import pytest

from tests.factories import ProductFactory, place_order

BODIES = [
    None, [], "text", 0, {"lines": "x"}, {"lines": [{"sku": None, "quantity": "many"}]},
    {"shipping_address": None, "lines": [{}]}, {"quantity": -1, "sku": ["a"], "warehouse": {"x": 1}},
    {"delta": "1e999", "reason": None}, {"order": 12, "lines": [{"line": "x", "quantity": None}]},
    {"text": None, "internal": "maybe"}, {"reason": {"nested": True}}, {"exception_reason": 5},
]


@pytest.mark.parametrize("body", BODIES, ids=[repr(b)[:30] for b in BODIES])
def test_write_endpoints_answer_bad_bodies_with_a_clear_4xx(client_staff, customer, body):
    order = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1)])
    paths = ["/api/orders/", f"/api/orders/{order.number}/notes/",
             f"/api/orders/{order.number}/transitions/cancel/", "/api/stock/receive/", "/api/stock/adjust/",
             "/api/stock/transfer/", "/api/shipments/", "/api/shipments/1/transitions/report_exception/",
             "/api/products/"]
    for path in paths:
        response = client_staff.post(path, body, format="json")
        assert 400 <= response.status_code < 500, (path, response.status_code, response.content[:300])
        assert set(response.json()) == {"code", "message", "extra"}, (path, response.json())
