"""The order admin in a real browser (Debian Chromium driven by Playwright) against a live server."""


import pytest
from django.contrib.auth.models import Group

from orders.models import Order
from orders.services import order_transition
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, StaffFactory, place_order

SCREENSHOT = ARTIFACTS / "waybill-admin-order.png"
NEXT_SCREENSHOT = ARTIFACTS / "waybill-admin-order-parcels.png"


# serialized_rollback: the staff groups come from a data migration; they are restored after the flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_shift_lead_confirms_then_cancels_an_order(live_server, page):
    from playwright.sync_api import expect

    # given a placed order, and warehouse staff who may also cancel (a shift lead)
    user = StaffFactory(username="lead", group="Warehouse staff")
    user.groups.add(Group.objects.get(name="Support agents"))
    order = place_order(lines=[(ProductFactory(stock=5, name="Pixel 9 128 GB"), 2)])

    # when they sign in to the admin and open the order from the list
    page.goto(f"{live_server.url}/admin/orders/order/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.get_by_role("link", name=order.number).click()
    expect(page.locator("h2").first).to_be_visible()

    # then the page says what comes next, with Confirm as its main button
    expect(page.locator(".wb-next-step")).to_contain_text("confirm it")
    primary = page.locator(".wb-actions .wb-primary").first
    expect(primary).to_have_text("Confirm")
    primary.click()

    # then the admin says it is done, and the order shows as confirmed
    expect(page.locator("ul.messagelist")).to_contain_text(f"{order.number}: Confirm done; now confirmed.")
    expect(page.locator(".wb-status")).to_have_text("Confirmed")

    # when they press Cancel and give a reason on the form
    page.click("button[name=_fsm_transition_to][value=cancel]")
    expect(page.locator("h1")).to_contain_text("Cancel")
    expect(page.locator("#content")).not_to_contain_text("None")
    page.fill("textarea[name=reason]", "Customer ordered the wrong colour")
    page.click("input[type=submit][value=Cancel]")

    # then the order is cancelled and the timeline shows the reason
    expect(page.locator("ul.messagelist")).to_contain_text("Cancel done; now cancelled.")
    expect(page.locator(".wb-status")).to_have_text("Cancelled")
    timeline = page.locator(".wb-timeline")
    expect(timeline).to_contain_text("Customer ordered the wrong colour")
    expect(timeline).to_contain_text("lead")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.events.last().text == "Customer ordered the wrong colour"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_next_step_is_always_the_main_button_from_confirmed_to_parcels(live_server, page):
    from playwright.sync_api import expect

    # given warehouse staff and a confirmed order of two items
    StaffFactory(username="picker", group="Warehouse staff")
    order = place_order(lines=[(ProductFactory(stock=5, name="Pixel 9 128 GB"), 1),
                               (ProductFactory(stock=5, name="Clear case"), 2)])
    order_transition(order=order.number, name="confirm", check_permission=False)
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    page.fill("#id_username", "picker")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")

    # when they follow the main button each time
    primary = page.locator(".wb-actions .wb-primary").first
    expect(primary).to_have_text("Start processing")
    primary.click()
    expect(page.locator(".wb-status")).to_have_text("Processing")
    expect(primary).to_have_text("Create shipments")
    primary.click()
    page.locator("#carrier").select_option("local")
    page.click("input[type=submit][value='Create shipments']")

    # then they are back on the order, which shows its parcel and what to do with it
    expect(page.locator("ul.messagelist")).to_contain_text("1 shipment(s) created")
    parcel = order.shipments.get()
    expect(primary).to_have_text(f"Parcel {parcel.pk}: pick and pack it")
    expect(page.locator(".wb-card", has_text="Parcels")).to_contain_text("1 × ")
    page.screenshot(path=str(NEXT_SCREENSHOT), full_page=True)


PAID_EDIT_SCREENSHOT = ARTIFACTS / "waybill-admin-paid-order-changed.png"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_paid_order_gets_an_item_more_and_the_rest_is_recorded_as_paid(live_server, page):
    from playwright.sync_api import expect

    from orders.services import order_set_payment_status

    # given a paid order and a support agent (who may change orders' items, record payments and refund)
    user = StaffFactory(username="agent", group="Support agents")
    user.user_permissions.add(*Group.objects.get(name="Warehouse staff").permissions.filter(codename="change_order"))
    ProductFactory(sku="CASE-CLEAR", stock=5, name="Clear case", price="15.00")
    order = place_order(lines=[(ProductFactory(stock=5, name="Pixel 9 128 GB", price="699.00"), 1)])
    order_set_payment_status(order=order.number, payment_status="paid")
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")

    # when the customer calls to add a case, and the agent changes the items
    page.get_by_role("link", name="Change items").click()
    page.fill("input[name=new_sku_0]", "CASE-CLEAR")
    page.fill("input[name=new_qty_0]", "1")
    page.get_by_role("button", name="Change the items").click()

    # then the order says what is left to pay, and recording it is the main button
    expect(page.locator("ul.messagelist")).to_contain_text("15.00 EUR is left to pay")
    expect(page.locator(".wb-pay")).to_have_text("Partially paid")
    expect(page.locator(".wb-totals")).to_contain_text("Left to pay")
    primary = page.locator(".wb-actions .wb-primary").first
    expect(primary).to_have_text("Record payment (15.00 EUR due)")
    page.screenshot(path=str(PAID_EDIT_SCREENSHOT), full_page=True)
    primary.click()
    expect(page.locator("input[name=amount]")).to_have_value("15.00")
    page.fill("input[name=reference]", "TRX-4711")
    page.get_by_role("button", name="Record the payment").click()

    # then it is paid in full again
    expect(page.locator("ul.messagelist")).to_contain_text("It is paid in full")
    expect(page.locator(".wb-pay")).to_have_text("Paid")
    order.refresh_from_db()
    assert (order.payment_status, order.amount_paid, order.balance_due) == ("paid", order.total, 0)
