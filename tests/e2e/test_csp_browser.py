"""The Content-Security-Policy in a real browser: the admin, the portal, the support workspace, the tracking page
and the API docs all work under it, and the browser reports not a single violation while they do. (Every browser
test fails on a violation too: the `page` fixture watches for them.)"""

import pytest

from orders.services import order_transition
from shipping.models import Carrier
from shipping.services import shipment_create_all, shipment_transition
from support.services import ticket_open
from tests.e2e.conftest import ARTIFACTS
from tests.factories import CustomerFactory, ProductFactory, StaffFactory, place_order

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def sign_in(page, url, username):
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", "secret-pass-123")
    page.click("[type=submit]")


@pytest.mark.django_db(transaction=True)
def test_every_area_works_without_a_csp_violation(live_server, page, csp_violations):
    from playwright.sync_api import expect

    # given a customer's order on its way, a ticket about it, and a superuser (admin and support workspace)
    StaffFactory(username="boss", is_superuser=True)
    customer = CustomerFactory(username="ada")
    order = place_order(customer=customer, lines=[(ProductFactory(stock=5, name="Pixel 9 128 GB"), 1)])
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=order.number, name=name, check_permission=False)
    (parcel,) = shipment_create_all(order=order.number)
    for name in ("pick", "pack"):
        shipment_transition(shipment=parcel.pk, name=name)
    shipment_transition(shipment=parcel.pk, name="create_label", carrier=Carrier.objects.get(code="local"))
    parcel = shipment_transition(shipment=parcel.pk, name="hand_over")
    ticket = ticket_open(subject="Where is my phone?", body="It said shipped.", customer=customer, order=order,
                         channel="email", notify=False)
    base = live_server.url

    # the portal: sign in, my orders, the order's page (htmx refreshes it), password reset
    response = page.goto(f"{base}/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "camera=()" in response.headers["permissions-policy"]
    sign_in(page, f"{base}/orders/", "ada")
    expect(page.locator("h1")).to_have_text("My orders")
    response = page.goto(f"{base}/orders/{order.number}/")
    assert "no-store" in response.headers["cache-control"] and "private" in response.headers["cache-control"]
    expect(page.locator("#order-status")).to_have_text("Shipped")
    with page.expect_response(lambda r: "part=live" in r.url, timeout=30_000):  # htmx's poll ran
        pass
    page.get_by_role("link", name=parcel.tracking_number).click()
    expect(page.locator("#status")).to_have_text("In transit")
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/password_reset/")
    expect(page.locator("h1")).to_have_text("Reset your password")
    page.screenshot(path=str(ARTIFACTS / "waybill-csp-portal.png"), full_page=True)

    # the admin: sign in, the order list and an order's page with its transition buttons
    sign_in(page, f"{base}/admin/", "boss")
    expect(page.locator("#site-name")).to_contain_text("Waybill back office")
    page.goto(f"{base}/admin/orders/order/")
    expect(page.locator("#result_list")).to_contain_text(order.number)
    page.get_by_role("link", name=order.number).first.click()
    expect(page.locator("#content")).to_contain_text(order.number)
    page.goto(f"{base}/admin/inventory/product/add/")
    expect(page.locator("form")).not_to_have_count(0)
    page.goto(f"{base}/admin/auth/user/add/")
    expect(page.locator("#id_username")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "waybill-csp-admin.png"), full_page=True)

    # the support workspace: the queue and the ticket page, whose keyboard shortcuts are a static script
    page.goto(f"{base}/support/queue/unassigned/")
    expect(page.locator("table.tickets")).to_be_visible()
    page.goto(f"{base}/support/tickets/{ticket.number}/")
    expect(page.locator(".case-column")).to_contain_text(order.number)
    page.wait_for_load_state("load")  # the shortcuts are a deferred script
    page.keyboard.press("r")
    expect(page.locator("#reply-body")).to_be_focused()
    page.screenshot(path=str(ARTIFACTS / "waybill-csp-support.png"), full_page=True)

    # the API docs: Swagger UI and ReDoc, from our own static files
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(f"{base}/api/docs/")
    assert "script-src 'self' 'nonce-" in response.headers["content-security-policy"]  # its inline script's
    expect(page.locator(".swagger-ui .info")).to_contain_text("Waybill API", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    page.goto(f"{base}/api/redoc/")
    expect(page.locator("#redoc-container")).to_contain_text("Waybill API", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "waybill-csp-redoc.png"))
    # nothing is fetched from elsewhere: ReDoc's own "API docs by Redocly" logo, which it always loads from its
    # CDN, is the one thing the policy refuses (the page shows the link without the picture)
    elsewhere = [url for url in requested if not url.startswith((base, "data:", "blob:"))]
    assert elsewhere in ([], [REDOC_LOGO]), elsewhere

    # then the browser reported no violation anywhere (but that refused logo: tests/e2e/conftest.py)
    assert csp_violations == []
