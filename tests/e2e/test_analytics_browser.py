"""The analytics dashboard in a real browser: an analyst opens March 2026, the charts draw (Chart.js under the
Content-Security-Policy, every violation fails the test), and a figure opens the admin list behind it."""

import pytest
from django.contrib.auth.models import Group

from analytics.rollups import rollups_rebuild
from tests.analytics.conftest import build_shop
from tests.e2e.conftest import ARTIFACTS
from tests.factories import StaffFactory

DASHBOARD = ARTIFACTS / "waybill-analytics-dashboard.png"
SALES = ARTIFACTS / "waybill-analytics-sales.png"
CUSTOMERS = ARTIFACTS / "waybill-analytics-customers.png"
DRILL_DOWN = ARTIFACTS / "waybill-analytics-drill-down.png"
MARCH = "range=custom&start=2026-03-01&end=2026-03-31"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_analyst_reads_the_dashboard_and_opens_the_orders_behind_a_figure(live_server, page, settings):
    from playwright.sync_api import expect

    # given the hand-built shop (tests/analytics/conftest.py) and an analyst
    settings.TIME_ZONE = "Europe/Berlin"
    shop = build_shop()
    rollups_rebuild()
    analyst = StaffFactory(username="analyst")
    analyst.groups.add(Group.objects.get(name="Analysts"))

    # when they sign in and open the dashboard for March
    page.goto(f"{live_server.url}/analytics/?{MARCH}")
    page.fill("#id_username", "analyst")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.wait_for_load_state("load")

    # then every panel is there with its figures, and every chart is drawn by Chart.js
    for title in ("Sales", "Customers", "Fulfilment", "After-sales and support", "Stock"):
        expect(page.get_by_role("heading", name=title, level=2, exact=True)).to_be_visible()
    sales = page.locator("#panel-sales")
    expect(sales.locator(".figure").first).to_contain_text("390.00")
    drawn = page.evaluate("() => Array.from(document.querySelectorAll('canvas[data-spec]'))"
                          ".map((c) => Boolean(window.Chart && window.Chart.getChart(c)))")
    assert drawn == [True] * 5
    page.screenshot(path=str(DASHBOARD), full_page=True)

    # when they open the sales panel: every table, each chart's numbers among them
    page.get_by_role("navigation", name="Panels").get_by_role("link", name="Sales", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.locator("#table-sales-products")).to_contain_text("AC-B")
    expect(page.locator("#table-sales-series")).to_contain_text("Tue 10 Mar")
    page.screenshot(path=str(SALES), full_page=True)

    # and the customers panel, with its cohorts and RFM segments
    page.get_by_role("navigation", name="Panels").get_by_role("link", name="Customers", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.locator("#table-customers-rfm")).to_contain_text("Champions")
    page.screenshot(path=str(CUSTOMERS), full_page=True)

    # when they open the cancelled orders behind the sales figure
    page.goto(f"{live_server.url}/analytics/?{MARCH}")
    page.wait_for_load_state("load")
    sales = page.locator("#panel-sales")
    sales.locator(".figure", has_text="Cancelled orders").get_by_role("link").click()
    page.wait_for_load_state("load")

    # then the admin lists exactly that order
    expect(page.locator("#result_list")).to_contain_text(shop.orders["O4"].number)
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.screenshot(path=str(DRILL_DOWN), full_page=True)
