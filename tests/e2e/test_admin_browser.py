"""The order admin in a real browser (Debian Chromium driven by Playwright) against a live server."""


import pytest
from django.contrib.auth.models import Group

from orders.models import Order
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, StaffFactory, place_order

SCREENSHOT = ARTIFACTS / "waybill-admin-order.png"


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

    # and press Confirm
    page.click("button[name=_fsm_transition_to][value=confirm]")

    # then the admin says it is done, and the order shows as confirmed
    expect(page.locator("ul.messagelist")).to_contain_text(f"{order.number}: Confirm done; now confirmed.")
    expect(page.locator(".field-status .readonly")).to_have_text("Confirmed")

    # when they press Cancel and give a reason on the form
    page.click("button[name=_fsm_transition_to][value=cancel]")
    expect(page.locator("h1")).to_have_text("Cancel")
    page.fill("textarea[name=reason]", "Customer ordered the wrong colour")
    page.click("input[type=submit][value=Apply]")

    # then the order is cancelled and the timeline shows the reason
    expect(page.locator("ul.messagelist")).to_contain_text("Cancel done; now cancelled.")
    expect(page.locator(".field-status .readonly")).to_have_text("Cancelled")
    timeline = page.locator("#events-group")
    expect(timeline).to_contain_text("Customer ordered the wrong colour")
    expect(timeline).to_contain_text("lead")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.events.last().text == "Customer ordered the wrong colour"
