"""Goods receipts: a supplier delivery booked with a quantity per line (and serials per unit), through the
ledger, once per delivery note, all or nothing."""

import threading

import pytest
from django.db import connection
from django.urls import reverse

from inventory.errors import InvalidReceipt, ReceiptAlreadyBooked
from inventory.models import GoodsReceipt, Product, StockLevel, StockMovement, Unit
from inventory.selectors import ledger_totals
from inventory.services import goods_receipt_create
from tests.factories import ProductFactory, WarehouseFactory

IMEI_A, IMEI_B = "356938035643809", "490154203237518"


@pytest.fixture
def setup(db):
    berlin = WarehouseFactory(code="BER", priority=1)
    mug = ProductFactory(sku="MUG", stock={"BER": 2})
    phone = ProductFactory(sku="PH-1", serial_tracked=True, serial_format=Product.SerialFormat.IMEI)
    return berlin, mug, phone


def _on_hand(product, warehouse):
    return StockLevel.objects.get(product=product, warehouse=warehouse).on_hand


def test_each_line_books_its_own_quantity_and_serials(setup, staff_user):
    berlin, mug, phone = setup
    receipt = goods_receipt_create(warehouse="BER", supplier="Acme Supplies", reference="DN-4711", actor=staff_user,
                                   lines=[{"sku": "mug", "quantity": 10},
                                          {"sku": "PH-1", "quantity": 2, "serials": [IMEI_A, f" {IMEI_B} "]}])
    assert (_on_hand(mug, berlin), _on_hand(phone, berlin)) == (12, 2)
    movements = StockMovement.objects.filter(reference_id=receipt.pk, kind="receipt")
    assert sorted(movements.values_list("product__sku", "quantity")) == [("MUG", 10), ("PH-1", 2)]
    assert set(movements.values_list("reason", flat=True)) == {"Acme Supplies · DN-4711"}
    assert set(Unit.objects.filter(product=phone).values_list("serial", "status", "batch")) == {
        (IMEI_A, "in_stock", "DN-4711"), (IMEI_B, "in_stock", "DN-4711")}
    totals = ledger_totals()
    assert all(totals[(lv.product_id, lv.warehouse_id)] == (lv.on_hand, lv.allocated)
               for lv in StockLevel.objects.all())


def test_every_problem_is_named_by_its_line_and_nothing_is_booked(setup):
    berlin, mug, phone = setup
    with pytest.raises(InvalidReceipt) as refused:
        goods_receipt_create(warehouse=berlin, supplier="Acme", lines=[
            {"sku": "MUG", "quantity": 5},
            {"sku": "NOPE", "quantity": 1},
            {"sku": "PH-1", "quantity": 2, "serials": [IMEI_A]},
            {"sku": "MUG", "quantity": 1},
            {"sku": "PH-1", "quantity": 0},
        ])
    fields = refused.value.extra["fields"]
    assert set(fields) == {"lines[1].sku", "lines[2].serials", "lines[3].sku", "lines[4].sku"}
    assert "scan one per unit (2), 1 given" in fields["lines[2].serials"][0]
    assert _on_hand(mug, berlin) == 2 and not GoodsReceipt.objects.exists()


def test_a_delivery_note_is_booked_once(setup):
    berlin, mug, _ = setup
    goods_receipt_create(warehouse=berlin, supplier="Acme", reference="DN-1", lines=[{"sku": "MUG", "quantity": 5}])
    with pytest.raises(ReceiptAlreadyBooked):
        goods_receipt_create(warehouse=berlin, supplier="ACME", reference="dn-1", lines=[{"sku": "MUG",
                                                                                          "quantity": 5}])
    assert _on_hand(mug, berlin) == 7


@pytest.mark.django_db(transaction=True)
def test_two_bookings_of_one_note_at_once_count_the_goods_once(postgres):
    berlin = WarehouseFactory(code="BER", priority=1)
    mug = ProductFactory(sku="MUG", stock={"BER": 1})
    barrier, results = threading.Barrier(2), []

    def book():
        try:
            barrier.wait(timeout=10)
            goods_receipt_create(warehouse="BER", supplier="Acme", reference="DN-9",
                                 lines=[{"sku": "MUG", "quantity": 5}])
            results.append("booked")
        except ReceiptAlreadyBooked:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=book) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["booked", "refused"]
    assert _on_hand(mug, berlin) == 6


def test_staff_book_a_receipt_in_the_admin_a_quantity_per_line(client, staff_user, setup):
    berlin, mug, phone = setup
    client.force_login(staff_user)
    url = reverse("admin:inventory_goodsreceipt_add")
    assert client.get(url).status_code == 200
    data = {"warehouse": "BER", "supplier": "Acme", "reference": "DN-77", "note": "",
            "line-TOTAL_FORMS": "3", "line-INITIAL_FORMS": "3", "line-MIN_NUM_FORMS": "1", "line-MAX_NUM_FORMS": "500",
            "line-0-sku": "MUG", "line-0-quantity": "4", "line-0-serials": "",
            "line-1-sku": "PH-1", "line-1-quantity": "2", "line-1-serials": f"{IMEI_A}\r\n{IMEI_B}\r\n",
            "line-2-sku": "", "line-2-quantity": "", "line-2-serials": ""}
    # a mistake on one line is shown on that line, and nothing is booked
    wrong = client.post(url, {**data, "line-1-serials": IMEI_A})
    assert wrong.status_code == 200
    assert wrong.context["lines"].forms[1].errors["serials"]
    assert not GoodsReceipt.objects.exists()
    # asking for more lines keeps what was entered
    more = client.post(url, {**data, "more": "1"})
    assert len(more.context["lines"].forms) == 11 and more.context["lines"].forms[0]["sku"].value() == "MUG"
    # the right receipt is booked, each line with its own quantity
    done = client.post(url, data)
    receipt = GoodsReceipt.objects.get()
    assert done["Location"] == reverse("admin:inventory_goodsreceipt_change", args=[receipt.pk])
    assert (_on_hand(mug, berlin), _on_hand(phone, berlin)) == (6, 2)
    assert client.get(done["Location"]).status_code == 200


def test_support_cannot_book_receipts(client, agent_user, setup):
    client.force_login(agent_user)
    assert client.get(reverse("admin:inventory_goodsreceipt_add")).status_code == 403
