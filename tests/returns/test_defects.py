"""Defect traceability: rates per SKU, per serial prefix and per receipt batch, and the list of defective serials."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Unit
from inventory.services import units_receive
from returns.selectors import defect_rate_by_batch, defect_rate_by_serial_prefix, defect_rate_by_sku, defective_serials
from returns.services import return_create, return_reject
from tests.factories import place_order
from tests.shipping.conftest import pack

from .conftest import deliver, line

pytestmark = pytest.mark.django_db

# valid IMEIs: two from type allocation code 35693803, two from 49015420
BATCH_A = ["356938035643809", "356938035643817"]
BATCH_B = ["490154203237518", "490154203237526"]


@pytest.fixture
def four_phones_delivered(customer, phone, north):
    units_receive(product=phone, warehouse=north, serials=BATCH_A, batch="PO-1")
    units_receive(product=phone, warehouse=north, serials=BATCH_B, batch="PO-2")
    orders = []
    for serial in BATCH_A + BATCH_B:
        orders.append(deliver(pack(place_order(customer=customer, lines=[(phone, 1)])), {"PH-1": [serial]}))
    return orders


def claim_defect(order, serial):
    return return_create(order=order, resolution="replacement", lines=[
        {"line": line(order, "PH-1").pk, "quantity": 1, "reason": "defective", "serial": serial}])


def window():
    now = timezone.now()
    return {"start": now - timedelta(days=1), "end": now + timedelta(days=1)}


def test_defect_rates_per_sku_prefix_and_batch(four_phones_delivered, case, customer, agent_user,
                                               django_assert_max_num_queries):
    orders = four_phones_delivered
    claim_defect(orders[0], BATCH_A[0])
    claim_defect(orders[1], BATCH_A[1])
    rejected = claim_defect(orders[2], BATCH_B[0])
    return_reject(return_request=rejected.number, reason="Water damage, not a defect.", actor=agent_user)
    deliver(pack(place_order(customer=customer, lines=[(case, 2)])))
    with django_assert_max_num_queries(2):
        per_sku = defect_rate_by_sku(**window())
    assert per_sku == [{"sku": "PH-1", "delivered": 4, "defective": 2, "rate": 0.5},
                       {"sku": "CASE-1", "delivered": 2, "defective": 0, "rate": 0.0}]
    assert defect_rate_by_serial_prefix(sku="PH-1", **window()) == [
        {"prefix": "35693803", "shipped": 2, "defective": 2, "rate": 1.0},
        {"prefix": "49015420", "shipped": 2, "defective": 0, "rate": 0.0}]
    assert defect_rate_by_batch(sku="PH-1", **window()) == [
        {"batch": "PO-1", "shipped": 2, "defective": 2, "rate": 1.0},
        {"batch": "PO-2", "shipped": 2, "defective": 0, "rate": 0.0}]
    # outside the period nothing counts
    old = {"start": timezone.now() - timedelta(days=30), "end": timezone.now() - timedelta(days=20)}
    assert defect_rate_by_sku(**old) == []


def test_defective_serials_list_names_orders_and_returns(four_phones_delivered):
    orders = four_phones_delivered
    rr = claim_defect(orders[1], BATCH_A[1])
    (row,) = defective_serials(sku="PH-1")
    assert (row.unit.serial, row.order_number, row.return_number, row.unit.batch) == (
        BATCH_A[1], orders[1].number, rr.number, "PO-1")
    assert Unit.objects.get(serial=BATCH_A[1]).status == "with_customer"
    assert list(defective_serials(sku="CASE-1")) == []
