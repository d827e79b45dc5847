"""The time-in-state breaches in a real browser: from the admin index to the page of open breaches, and on to the
order that waits."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.utils import timezone

from analytics.models import TimeInStateRule
from analytics.time_in_state.services import rules_evaluate
from orders.services import order_transition
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, StaffFactory, place_order

SCREENSHOT = ARTIFACTS / "waybill-analytics-breaches.png"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_manager_opens_the_open_breaches_and_the_order_behind_one(live_server, page, settings):
    from playwright.sync_api import expect

    # given an order on hold for more than a day, found by a rule, and a manager who may see analytics
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    TimeInStateRule.objects.update(active=False)
    TimeInStateRule.objects.create(name="On hold over a day", state="order.on_hold", max_age_hours=24)
    with time_machine.travel(timezone.now() - timedelta(hours=30), tick=False):
        order = place_order(lines=[(ProductFactory(stock=5, name="Pixel 9 128 GB"), 1)])
        order_transition(order=order.number, name="hold", reason="Address check", check_permission=False)
    rules_evaluate()
    manager = StaffFactory(username="manager", group="Warehouse staff")
    manager.user_permissions.add(Permission.objects.get(codename="view_analytics"))

    # when they sign in and follow the admin index's link
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.get_by_role("link", name="Open breaches (time in state)").click()
    page.wait_for_load_state("load")

    # then the page lists the order, how long it has been on hold and the rule
    expect(page.locator("h2")).to_contain_text("Waiting longer than a rule allows: 1")
    row = page.locator("#breaches tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"Order {order.number}")
    expect(row).to_contain_text("on hold")
    expect(row).to_contain_text("On hold over a day")
    expect(row).to_contain_text("6\u00a0hours")  # overdue by: 30 hours on hold, 24 allowed
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # and the order is one click away
    row.get_by_role("link", name=f"Order {order.number}").click()
    page.wait_for_load_state("load")
    expect(page.locator(".wb-status")).to_have_text("On hold")
