"""The defective phone from the customer's side, in a real browser at desktop and phone width: a guest opens the
order from the email's link, reports the defect with the serial preselected, sees the claim; signed-in, they
follow it in their conversations. axe-core checks every page for serious accessibility problems."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from inventory.models import Product
from orders.services import order_set_payment_status
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, WarehouseFactory, place_order
from tests.returns.conftest import IMEI_SOLD, deliver
from tests.shipping.conftest import pack

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ARTIFACTS


def fits_a_phone(page, name: str) -> None:
    """At 360 px wide nothing scrolls sideways."""
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 360, "height": 780})
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    page.set_viewport_size({"width": width, "height": 1000})
    assert overflow <= 360, f"{name} is {overflow} px wide at 360 px"


def check_accessibility(page, name: str) -> None:
    """No serious or critical axe-core violation on the page (axe-core from npm; without it this check is
    skipped, and REQUIRE_SERVICES=1 makes that a failure)."""
    if not AXE.exists():
        from tests.conftest import service_missing

        service_missing("axe-core (npm ci)")
    # evaluated by the browser's DevTools protocol: the page's Content-Security-Policy refuses inline scripts
    page.evaluate("() => { " + AXE.read_text() + "\n}")
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                               ".filter(v => ['serious', 'critical'].includes(v.impact))"
                               ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))")
    assert violations == [], f"{name}: {violations}"


def shoot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"waybill-portal-{name}.png"), full_page=True)
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 360, "height": 780})
    page.screenshot(path=str(SHOTS / f"waybill-portal-{name}-phone.png"), full_page=True)
    page.set_viewport_size({"width": width, "height": 1000})


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_guest_reports_a_defective_phone_from_the_email_link(live_server, page, mailoutbox, settings):
    from playwright.sync_api import expect

    settings.WAYBILL_SITE_URL = live_server.url
    WarehouseFactory(code="NORTH", priority=1)
    phone = ProductFactory(sku="PH-PX9-128", name="Google Pixel 9 128 GB Obsidian", price="799.00",
                           serial_tracked=True, serial_format=Product.SerialFormat.IMEI, stock={"NORTH": 3})
    order = pack(place_order(email="grace@example.com", lines=[(phone, 1)]))
    order_set_payment_status(order=order.number, payment_status="paid")
    mailoutbox.clear()
    order = deliver(order, {"PH-PX9-128": [IMEI_SOLD]})

    # given the link in the delivery email (a guest: no account)
    from notifications.models import Notification
    from notifications.services import render_email

    email = render_email(Notification.objects.filter(event="shipment.delivered").latest("pk"))
    link = re.search(r"http://\S+/orders/\S+\?access=\S+", email.body).group(0)

    # when they open it, the order's story is told for people, and nothing staff-only shows
    page.goto(link)
    expect(page.locator("h1")).to_have_text(f"Order {order.number}")
    expect(page.locator("#timeline")).to_contain_text("Your parcel was delivered")
    expect(page.locator("body")).not_to_contain_text("NORTH")
    check_accessibility(page, "order")
    shoot(page, "order")

    # when they report a problem, the phone's serial is already chosen and the rules are explained
    page.get_by_role("link", name="Report a problem").click()
    expect(page.locator("#id_serial")).to_have_value(IMEI_SOLD)
    expect(page.locator(".card").first).to_contain_text("What happens next")
    page.get_by_label("Google Pixel 9 128 GB Obsidian (PH-PX9-128)").check()
    page.select_option("#id_reason", "defective")
    page.get_by_label("A replacement").check()
    page.fill("#id_description", "It restarts every ten minutes.")
    check_accessibility(page, "report")
    shoot(page, "report")
    page.get_by_role("button", name="Send my request").click()

    # then the return is registered and they can see where it stands
    expect(page.locator(".messages")).to_contain_text("is registered")
    expect(page.locator(".status")).to_contain_text("Requested")
    expect(page.locator("body")).to_contain_text(IMEI_SOLD)
    check_accessibility(page, "return")
    shoot(page, "return")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_open_order_page_shows_the_carriers_scan_within_seconds(live_server, page, settings):
    from playwright.sync_api import expect

    from orders.services import order_transition
    from shipping.services import shipment_create_all, shipment_transition
    from tests.factories import CustomerFactory
    from tests.returns.conftest import carrier_event

    settings.WAYBILL_PORTAL_REFRESH_SECONDS = 1
    if not settings.WAYBILL_HTMX_AVAILABLE:
        from tests.conftest import service_missing

        service_missing("htmx (npm ci)")
    CustomerFactory(username="ada")
    WarehouseFactory(code="NORTH", priority=1)
    from django.contrib.auth import get_user_model

    customer = get_user_model().objects.get(username="ada")
    product = ProductFactory(sku="AC-CHG-30W", name="30 W USB-C charger", stock={"NORTH": 3})
    order = place_order(customer=customer, lines=[(product, 1)])
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=order.number, name=name, check_permission=False)
    (parcel,) = shipment_create_all(order=order.number, carrier="local")
    for name in ("pick", "pack", "create_label"):
        parcel = shipment_transition(shipment=parcel.pk, name=name)

    # given the customer has the order page open
    page.goto(f"{live_server.url}/accounts/login/?next=/orders/{order.number}/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "secret-pass-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#timeline")).to_contain_text("ready to leave with Local courier")
    # when the courier scans the parcel
    carrier_event(parcel, "PICKED_UP")
    # then the open page shows it by itself, without a reload
    expect(page.locator("#timeline")).to_contain_text("Your parcel left our warehouse with Local courier",
                                                      timeout=10_000)
    expect(page.locator("#order-status")).to_have_text("Shipped")
    check_accessibility(page, "live")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_portal_page_passes_axe(live_server, page):
    from returns.services import return_create
    from support.services import ticket_open, ticket_reply
    from tests.factories import CustomerFactory, StaffFactory

    CustomerFactory(username="ada")
    from django.contrib.auth import get_user_model

    customer = get_user_model().objects.get(username="ada")
    agent = StaffFactory(username="agent", group="Support agents")
    WarehouseFactory(code="NORTH", priority=1)
    phone = ProductFactory(sku="PH-PX9-128", name="Google Pixel 9 128 GB Obsidian", serial_tracked=True,
                           serial_format=Product.SerialFormat.IMEI, stock={"NORTH": 3})
    order = deliver(pack(place_order(customer=customer, lines=[(phone, 1)])), {"PH-PX9-128": [IMEI_SOLD]})
    rr = return_create(order=order, resolution="replacement", channel="portal", lines=[
        {"line": order.lines.get().pk, "quantity": 1, "reason": "defective", "serial": IMEI_SOLD}])
    ticket = ticket_open(subject="Screen flickers", body="It flickers.", customer=customer, order=order,
                         notify=False)
    ticket_reply(ticket=ticket.number, author=agent, body="We are on it.")

    anonymous = ["/", "/orders/find/", "/accounts/login/", "/accounts/password_reset/", "/account/signup/",
                 "/orders/WB-2222-3333/"]
    for path in anonymous:
        page.goto(f"{live_server.url}{path}")
        check_accessibility(page, path)
        fits_a_phone(page, path)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "secret-pass-123")
    page.get_by_role("button", name="Sign in").click()
    signed_in = ["/orders/", f"/orders/{order.number}/", f"/orders/{order.number}/address/", "/returns/",
                 f"/returns/{rr.number}/", "/help/", "/help/new/", f"/help/{ticket.number}/", "/account/emails/"]
    for path in signed_in:
        page.goto(f"{live_server.url}{path}")
        check_accessibility(page, path)
        fits_a_phone(page, path)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sign_up_find_the_guest_order_read_the_reply_and_follow_the_replacement(live_server, page, mailoutbox,
                                                                                settings):
    from playwright.sync_api import expect

    from orders.services import order_transition
    from returns.services import return_approve
    from shipping.services import shipment_create_all, shipment_transition
    from support.models import Ticket
    from support.services import ticket_reply
    from tests.factories import StaffFactory
    from tests.returns.conftest import IMEI_SPARE

    settings.WAYBILL_SITE_URL = live_server.url
    agent = StaffFactory(username="agent", group="Support agents")
    WarehouseFactory(code="NORTH", priority=1)
    phone = ProductFactory(sku="PH-PX9-128", name="Google Pixel 9 128 GB Obsidian", price="799.00",
                           serial_tracked=True, serial_format=Product.SerialFormat.IMEI, stock={"NORTH": 3})
    order = pack(place_order(email="grace@example.com", lines=[(phone, 1)]))  # as a guest
    order_set_payment_status(order=order.number, payment_status="paid")
    order = deliver(order, {"PH-PX9-128": [IMEI_SOLD]})
    mailoutbox.clear()

    # when Grace signs up with the same email and confirms it
    page.goto(f"{live_server.url}/account/signup/")
    page.fill("#id_name", "Grace Hopper")
    page.fill("#id_email", "grace@example.com")
    page.fill("#id_password1", "cobol-is-fine-1959")
    page.fill("#id_password2", "cobol-is-fine-1959")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("h1")).to_have_text("Check your email")
    link = re.search(r"http://\S+/account/verify/\S+/", mailoutbox[-1].body).group(0)
    page.goto(link)

    # then the order she placed as a guest is in her account
    expect(page.locator(".messages")).to_contain_text("1 earlier order joined it")
    expect(page.locator("#orders")).to_contain_text(order.number)
    shoot(page, "joined")

    # when she reports the defect, support answers, and sends a replacement at once
    page.get_by_role("link", name=order.number).click()
    page.get_by_role("link", name="Report a problem").click()
    page.get_by_label("Google Pixel 9 128 GB Obsidian (PH-PX9-128)").check()
    page.select_option("#id_reason", "defective")
    page.get_by_label("A replacement").check()
    page.fill("#id_description", "Restarts all the time.")
    page.get_by_role("button", name="Send my request").click()
    expect(page.locator(".status")).to_contain_text("Requested")
    ticket = Ticket.objects.get()
    ticket_reply(ticket=ticket.number, author=agent, body="Sorry, Grace! A new phone leaves today.")
    from returns.models import ReturnRequest

    rr = ReturnRequest.objects.get()
    return_approve(return_request=rr.number, actor=agent, handling="advance_replacement")
    rr.refresh_from_db()
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=rr.replacement_order.number, name=name, check_permission=False)
    (parcel,) = shipment_create_all(order=rr.replacement_order.number, carrier="local")
    shipment_transition(shipment=parcel.pk, name="pick")
    shipment_transition(shipment=parcel.pk, name="pack",
                        serials={rr.replacement_order.lines.get().pk: [IMEI_SPARE]})
    shipment_transition(shipment=parcel.pk, name="create_label")
    parcel = shipment_transition(shipment=parcel.pk, name="hand_over")

    # then she reads the reply (and only the reply) in her conversations
    page.get_by_role("link", name="Help").click()
    page.get_by_role("link", name=ticket.subject).click()
    expect(page.locator("body")).to_contain_text("A new phone leaves today.")
    check_accessibility(page, "conversation")
    shoot(page, "conversation")

    # and her return shows the replacement on its way with tracking, and the label for the faulty phone
    page.goto(f"{live_server.url}/returns/{rr.number}/")
    expect(page.locator("body")).to_contain_text(parcel.tracking_number)
    expect(page.get_by_role("link", name="Print the return label (PDF)")).to_be_visible()
    expect(page.locator("body")).to_contain_text(f"replaced by {IMEI_SPARE}")
    shoot(page, "replacement")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_customer_sees_the_refund_of_an_exchange(live_server, page):
    from playwright.sync_api import expect

    from returns.services import return_approve, return_create, return_resolve
    from tests.factories import CustomerFactory, StaffFactory

    CustomerFactory(username="ada")
    from django.contrib.auth import get_user_model

    customer = get_user_model().objects.get(username="ada")
    agent = StaffFactory(username="agent", group="Support agents")
    WarehouseFactory(code="NORTH", priority=1)
    case = ProductFactory(sku="CASE-L", name="Leather case", price="49.90", stock={"NORTH": 3})
    ProductFactory(sku="CASE-S", name="Slim case", price="19.90", stock={"NORTH": 3})
    order = pack(place_order(customer=customer, lines=[(case, 1)]))
    order_set_payment_status(order=order.number, payment_status="paid")
    order = deliver(order)
    rr = return_create(order=order, resolution="exchange", exchange_sku="CASE-S", channel="portal", lines=[
        {"line": order.lines.get().pk, "quantity": 1, "reason": "not_as_described"}])
    return_approve(return_request=rr.number, actor=agent, handling="keep_it")
    return_resolve(return_request=rr.number, actor=agent)

    page.goto(f"{live_server.url}/accounts/login/?next=/orders/{order.number}/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "secret-pass-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#timeline")).to_contain_text("Refund of 30.00 EUR issued")
    expect(page.locator("body")).to_contain_text("Partially refunded")
    page.goto(f"{live_server.url}/returns/{rr.number}/")
    expect(page.locator("body")).to_contain_text("30.00 EUR")
    expect(page.locator("body")).to_contain_text("Slim case in exchange")
    check_accessibility(page, "exchange")
    shoot(page, "exchange")
