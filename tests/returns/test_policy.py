"""The return policy, enforced by the service and explained to the person refused; nothing written on refusal."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import DomainError
from orders.models import OrderEvent
from returns.errors import InvalidReturn, ReturnNotAllowed
from returns.models import ReturnLine, ReturnRequest
from returns.services import return_cancel, return_create, return_reject
from tests.factories import ProductFactory, place_order
from tests.shipping.conftest import pack

from .conftest import IMEI_OTHER, IMEI_SOLD, deliver, line, together

pytestmark = pytest.mark.django_db


def claim(order, *lines, resolution="refund", **kwargs):
    return return_create(order=order, resolution=resolution, lines=list(lines), **kwargs)


def case_line(order, qty=1, reason="no_longer_wanted"):
    return {"line": line(order, "CASE-1").pk, "quantity": qty, "reason": reason}


def assert_nothing_written(order):
    assert not ReturnRequest.objects.exists() and not ReturnLine.objects.exists()
    assert not OrderEvent.objects.filter(order=order, kind="return").exists()
    assert sum(order.lines.values_list("returned_quantity", flat=True)) == 0


def test_more_than_delivered_minus_returned_is_refused_naming_the_line(delivered):
    claim(delivered, case_line(delivered, 1))
    with pytest.raises(ReturnNotAllowed) as err:
        claim(delivered, case_line(delivered, 2))
    assert err.value.extra["fields"] == {"lines[0].quantity": [
        "Only 1 unit(s) of CASE-1 can be returned (2 delivered, 1 already in a return)."]}
    assert ReturnRequest.objects.count() == 1


def test_a_rejected_or_cancelled_return_gives_its_units_back(delivered, agent_user):
    first = claim(delivered, case_line(delivered, 2))
    return_reject(return_request=first.number, reason="Used and scratched.", actor=agent_user)
    second = claim(delivered, case_line(delivered, 2))
    return_cancel(return_request=second.number, reason="Customer keeps them.", actor=agent_user)
    claim(delivered, case_line(delivered, 2))
    assert line(delivered, "CASE-1").returned_quantity == 2


def test_items_not_yet_delivered_cannot_be_returned(customer, case):
    order = pack(place_order(customer=customer, lines=[(case, 1)]))
    with pytest.raises(ReturnNotAllowed) as err:
        claim(order, case_line(order))
    assert "has not been delivered yet" in err.value.extra["fields"]["lines[0]"][0]
    assert_nothing_written(order)


def test_the_return_window_ends_with_its_deadline_but_defects_have_the_guarantee(delivered, settings):
    settings.WAYBILL_RETURN_WINDOW_DAYS = 14
    from shipping.models import Shipment

    Shipment.objects.filter(order=delivered).update(delivered_at=timezone.now() - timedelta(days=20))
    with pytest.raises(ReturnNotAllowed) as err:
        claim(delivered, case_line(delivered))
    deadline = timezone.localdate(timezone.now() - timedelta(days=6)).isoformat()
    assert err.value.extra["fields"]["lines[0]"] == [
        f"The return window for CASE-1 (14 days after delivery) ended on {deadline}."]
    assert_nothing_written(delivered)
    # a product's own window wins over the default, and a defect is claimed under the guarantee
    delivered.lines.get(sku="CASE-1").product.__class__.objects.filter(sku="CASE-1").update(return_window_days=30)
    claim(delivered, case_line(delivered))
    claim(delivered, case_line(delivered, reason="defective"))


def test_final_sale_refuses_a_change_of_mind_but_not_a_defect(delivered):
    type(line(delivered, "CASE-1").product).objects.filter(sku="CASE-1").update(final_sale=True)
    with pytest.raises(ReturnNotAllowed) as err:
        claim(delivered, case_line(delivered))
    assert "final sale" in err.value.extra["fields"]["lines[0]"][0]
    claim(delivered, case_line(delivered, reason="damaged_in_transit"))


@pytest.mark.parametrize("serial, message", [
    (IMEI_OTHER, "was not shipped with order"),
    ("", "is not an IMEI"),
    ("356938035643808", "is not an IMEI"),
])
def test_a_serial_must_be_one_shipped_with_this_order(delivered, serial, message):
    phone = {"line": line(delivered, "PH-1").pk, "quantity": 1, "reason": "defective", "serial": serial}
    with pytest.raises(DomainError) as err:
        claim(delivered, phone, resolution="replacement")
    assert message in str(err.value.extra["fields"]["lines[0].serial"])
    assert_nothing_written(delivered)


def test_a_serial_is_claimed_once(delivered):
    phone = {"line": line(delivered, "PH-1").pk, "quantity": 1, "reason": "defective", "serial": IMEI_SOLD}
    claim(delivered, phone, resolution="replacement")
    with pytest.raises(ReturnNotAllowed):
        claim(delivered, phone, resolution="replacement")


@pytest.mark.parametrize("lines, field", [
    ([], "lines"),
    ([{"line": "x", "quantity": 1, "reason": "defective"}], "lines[0].line"),
    ([{"line": 1, "quantity": 0, "reason": "defective"}], "lines[0].quantity"),
    ([{"line": 1, "quantity": True, "reason": "defective"}], "lines[0].quantity"),
    ([{"line": 1, "quantity": 1, "reason": "broken-ish"}], "lines[0].reason"),
    ([{"line": 1, "quantity": 1, "reason": "defective", "description": "x" * 5000}], "lines[0].description"),
    (["not an object"], "lines[0]"),
])
def test_malformed_lines_are_a_400_naming_the_field(delivered, lines, field):
    with pytest.raises(InvalidReturn) as err:
        claim(delivered, *lines)
    assert field in err.value.extra["fields"]
    assert err.value.http_status == 400


def test_lines_of_another_order_and_unknown_resolutions_are_refused(delivered, customer, case):
    other = place_order(customer=customer, lines=[(case, 1)])
    with pytest.raises(InvalidReturn) as err:
        claim(delivered, {"line": other.lines.get().pk, "quantity": 1, "reason": "defective"})
    assert "has no line" in err.value.extra["fields"]["lines[0].line"][0]
    with pytest.raises(InvalidReturn):
        claim(delivered, case_line(delivered), resolution="store_credit")
    with pytest.raises(InvalidReturn):
        claim(delivered, case_line(delivered), resolution="exchange", exchange_sku="NOPE")
    with pytest.raises(InvalidReturn):
        claim(delivered, case_line(delivered), customer_note="bad \x00 byte")
    assert_nothing_written(delivered)


def test_serial_tracked_items_are_returned_one_per_line(delivered):
    with pytest.raises(ReturnNotAllowed) as err:
        claim(delivered, {"line": line(delivered, "PH-1").pk, "quantity": 2, "reason": "defective",
                          "serial": IMEI_SOLD})
    # (only one phone was delivered: the quantity check speaks first)
    assert "lines[0].quantity" in err.value.extra["fields"]


def test_an_order_delivered_without_parcels_counts_its_shipped_units(customer, case):
    from tests.factories import advance_order

    order = advance_order(place_order(customer=customer, lines=[(case, 3)]), "delivered")
    rr = claim(order, case_line(order, 3))
    assert rr.lines.get().quantity == 3


@pytest.mark.django_db(transaction=True)
def test_two_returns_for_the_last_returnable_unit_one_succeeds(postgres, customer, north):
    case = ProductFactory(sku="CASE-1", stock={"NORTH": 5})
    order = deliver(pack(place_order(customer=customer, lines=[(case, 1)])))
    results = together(lambda: claim(order, case_line(order, 1)))
    assert sorted(type(r).__name__ for r in results) == ["ReturnNotAllowed", "ReturnRequest"]
    assert ReturnRequest.objects.count() == 1 and line(order, "CASE-1").returned_quantity == 1


def test_the_database_refuses_more_claimed_than_shipped(delivered):
    from django.db import IntegrityError, transaction

    from orders.models import OrderLine

    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(pk=line(delivered, "CASE-1").pk).update(returned_quantity=3)


def test_creation_costs_the_same_queries_for_one_line_and_ten(customer, north, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    products = [ProductFactory(stock={"NORTH": 5}) for _ in range(10)]
    order = deliver(pack(place_order(customer=customer, lines=[(p, 1) for p in products])))
    one = [{"line": order.lines.get(sku=products[0].sku).pk, "quantity": 1, "reason": "no_longer_wanted"}]
    rest = [{"line": order.lines.get(sku=p.sku).pk, "quantity": 1, "reason": "no_longer_wanted"} for p in products[1:]]
    with CaptureQueriesContext(connection) as small:
        claim(order, *one)
    with CaptureQueriesContext(connection) as big:
        claim(order, *rest)
    assert len(big.captured_queries) == len(small.captured_queries)
