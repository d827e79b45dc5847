"""A support agent handles a defect claim in a real browser: from the order's page to an approved advance
replacement with its return label, then the list of returns."""


import pytest

from inventory.models import Product
from orders.services import order_set_payment_status
from returns.models import ReturnRequest
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory, place_order
from tests.returns.conftest import IMEI_SOLD, deliver
from tests.shipping.conftest import pack

SCREENSHOT_START = ARTIFACTS / "waybill-admin-return-start.png"
SCREENSHOT_APPROVE = ARTIFACTS / "waybill-admin-return-approve.png"
SCREENSHOT_RETURN = ARTIFACTS / "waybill-admin-return-page.png"
SCREENSHOT_LIST = ARTIFACTS / "waybill-admin-returns-list.png"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_support_turns_a_defect_call_into_an_advance_replacement(live_server, page):
    from playwright.sync_api import expect

    # given a delivered phone and a support agent
    StaffFactory(username="agent", group="Support agents")
    WarehouseFactory(code="NORTH", priority=1)
    phone = ProductFactory(sku="PH-PX9-128", name="Google Pixel 9 128 GB Obsidian", price="799.00",
                           serial_tracked=True, serial_format=Product.SerialFormat.IMEI, stock={"NORTH": 3})
    order = pack(place_order(lines=[(phone, 1)]))
    order_set_payment_status(order=order.number, payment_status="paid")
    order = deliver(order, {"PH-PX9-128": [IMEI_SOLD]})

    # when the agent opens the order and starts a claim
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.click("text=Start a return / claim")

    # then the delivered phone is preselected; the agent scans its IMEI and says what is wrong
    line = order.lines.get()
    expect(page.locator(f"#id_quantity_{line.pk}")).to_have_value("1")
    page.select_option(f"#id_reason_{line.pk}", "defective")
    page.locator(f"#id_serials_{line.pk}").click()
    page.keyboard.type(f"{IMEI_SOLD}\n")
    page.fill(f"#id_description_{line.pk}", "Screen flickers, then goes black")
    page.select_option("#id_resolution", "replacement")
    page.screenshot(path=str(SCREENSHOT_START), full_page=True)
    page.click("input[type=submit][value='Create the return']")

    # then the return's page offers the decisions support may take
    expect(page.locator("ul.messagelist")).to_contain_text("created for order")
    rr = ReturnRequest.objects.get()
    expect(page.locator(".object-tools")).to_contain_text("Approve")
    page.click(".object-tools >> text=Approve")

    # when the agent sends a replacement at once
    page.check("input[name=handling][value=advance_replacement]")
    page.screenshot(path=str(SCREENSHOT_APPROVE), full_page=True)
    page.click("input[type=submit][value=Approve]")

    # then the return waits for the faulty phone, with a label, and the replacement order exists
    expect(page.locator("ul.messagelist")).to_contain_text("awaiting the item")
    rr.refresh_from_db()
    assert rr.replacement_order is not None and rr.label_shipment is not None
    expect(page.locator(".field-label")).to_contain_text(rr.label_shipment.tracking_number)
    expect(page.locator(".field-replacement_link")).to_contain_text(rr.replacement_order.number)
    expect(page.locator("body")).to_contain_text(IMEI_SOLD)
    page.screenshot(path=str(SCREENSHOT_RETURN), full_page=True)

    # and the list of returns shows it with its state, filterable by reason
    page.goto(f"{live_server.url}/admin/returns/returnrequest/?reason=defective")
    expect(page.locator("#result_list")).to_contain_text(rr.number)
    expect(page.locator("#result_list")).to_contain_text("Awaiting the item")
    page.screenshot(path=str(SCREENSHOT_LIST), full_page=True)
