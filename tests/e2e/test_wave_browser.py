"""A batch pick list in a real browser: choose orders in the fulfilment queue, make one wave, print its list."""

import io

import pytest
from pypdf import PdfReader

from inventory.models import StockLevel
from orders.services import order_transition
from shipping.models import PickWave
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory, place_order

SHOTS = {name: ARTIFACTS / f"waybill-admin-{name}.png" for name in ("queue", "wave")}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_picker_makes_one_wave_of_two_orders_and_prints_its_list(live_server, page):
    from playwright.sync_api import expect

    # given three confirmed orders at Berlin, products in bins, and a picker
    StaffFactory(username="picker", group="Warehouse staff")
    WarehouseFactory(code="BER", name="Berlin", priority=1)
    mug, case = ProductFactory(sku="MUG", stock={"BER": 9}), ProductFactory(sku="CASE", stock={"BER": 9})
    StockLevel.objects.filter(product=mug).update(bin="B-10-1")
    StockLevel.objects.filter(product=case).update(bin="A-02-3")
    orders = []
    for lines in ([(mug, 1), (case, 2)], [(case, 1)], [(mug, 3)]):
        order = place_order(lines=lines)
        orders.append(order_transition(order=order.number, name="confirm", check_permission=False))
    page.goto(f"{live_server.url}/admin/shipping/fulfilmentqueue/?warehouse=BER")
    page.fill("#id_username", "picker")
    page.fill("#id_password", "secret-pass-123")
    page.keyboard.press("Enter")

    # when they choose the two oldest and make a wave
    expect(page.locator(".wb-card", has_text="To pick")).to_contain_text("3 orders")
    for order in orders[:2]:
        page.check(f"#pick-{order.number}")
    page.screenshot(path=str(SHOTS["queue"]), full_page=True)
    page.get_by_role("button", name="Pick the chosen orders (one wave)").click()

    # then the wave's page lists a parcel per order and offers the pick list
    wave = PickWave.objects.get()
    expect(page.locator("h1")).to_contain_text(f"Pick wave {wave.pk}")
    expect(page.locator(".wb-card", has_text="Parcels")).to_contain_text(orders[0].number)
    expect(page.locator(".wb-card", has_text="Parcels")).to_contain_text(orders[1].number)
    page.screenshot(path=str(SHOTS["wave"]), full_page=True)
    link = page.get_by_role("link", name="Print pick list (PDF)").get_attribute("href")
    pdf = page.request.get(f"{live_server.url}{link}")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    # walked by bin: A-02 (3 cases for two orders) before B-10 (1 mug)
    assert text.index("A-02-3") < text.index("B-10-1")
    assert orders[2].number not in text
