"""An agent's morning in the workspace, in a real browser: take a ticket, answer with a canned reply, add an
internal note, send a replacement at once, and see the case beside the conversation."""


import pytest

from inventory.models import Product
from orders.services import order_set_payment_status
from support.models import CannedReply, Ticket
from support.services import ticket_open
from tests.e2e.conftest import ARTIFACTS
from tests.factories import CustomerFactory, ProductFactory, StaffFactory, WarehouseFactory, place_order
from tests.returns.conftest import IMEI_SOLD, deliver
from tests.shipping.conftest import pack

SCREENSHOT_QUEUE = ARTIFACTS / "waybill-support-queue.png"
SCREENSHOT_TICKET = ARTIFACTS / "waybill-support-ticket.png"
SCREENSHOT_CASE = ARTIFACTS / "waybill-support-replacement.png"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_agent_takes_answers_notes_and_replaces(live_server, page):
    from playwright.sync_api import expect

    # given a customer whose delivered phone is faulty, and their email as a ticket
    StaffFactory(username="agent", group="Support agents")
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace")
    WarehouseFactory(code="NORTH", priority=1)
    phone = ProductFactory(sku="PH-PX9-128", name="Google Pixel 9 128 GB Obsidian", price="799.00",
                           serial_tracked=True, serial_format=Product.SerialFormat.IMEI, stock={"NORTH": 3})
    order = pack(place_order(customer=customer, lines=[(phone, 1)]))
    order_set_payment_status(order=order.number, payment_status="paid")
    order = deliver(order, {"PH-PX9-128": [IMEI_SOLD]})
    ticket = ticket_open(subject="My new phone restarts all the time", body="It restarts every ten minutes.",
                         customer=customer, order=order, order_line=order.lines.get().pk, serial=IMEI_SOLD,
                         category="defect", channel="email", notify=False)
    Ticket.objects.filter(pk=ticket.pk).update(assignee=None)
    CannedReply.objects.create(title="Sorry, replacing", body="Hello {{ customer_name }}, we are sorry about "
                               "order {{ order_number }}. A new phone leaves today. — {{ agent_name }}")

    # when the agent signs in and opens the unassigned queue
    page.goto(f"{live_server.url}/support/queue/unassigned/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "secret-pass-123")
    page.click("button[type=submit]")
    expect(page.locator("table.tickets")).to_contain_text(ticket.number)
    page.screenshot(path=str(SCREENSHOT_QUEUE), full_page=True)
    page.click(f"text={ticket.number}")

    # then the conversation is beside the case: the order, the phone's serial, the parcel
    expect(page.locator(".case-column")).to_contain_text(order.number)
    expect(page.locator(".case-column")).to_contain_text(IMEI_SOLD)

    # when they take it (keyboard: a, once the page's script has loaded), insert the canned reply and send it
    page.wait_for_load_state("load")
    page.keyboard.press("a")
    expect(page.locator(".ticket-head")).to_contain_text("assigned to agent")
    page.select_option("#canned", label="Sorry, replacing")
    page.click("form.canned button")
    expect(page.locator("#reply-body")).to_have_value(
        f"Hello Ada Lovelace, we are sorry about order {order.number}. A new phone leaves today. — agent")
    page.click("button.public")
    expect(page.locator("#conversation")).to_contain_text("A new phone leaves today")
    expect(page.locator("#ticket-head")).to_contain_text("Waiting on the customer")  # swapped with the reply
    expect(page.locator("#reply-body")).to_have_value("")

    # and add an internal note (keyboard: n) that is marked as staff only
    page.keyboard.press("n")
    page.keyboard.type("Second report of restarts for this batch.")
    page.click("button.note")
    note = page.locator("#conversation .message.internal .body")
    expect(note).to_have_text("Second report of restarts for this batch.")
    page.screenshot(path=str(SCREENSHOT_TICKET), full_page=True)

    # when they send a replacement at once
    page.select_option("select[name=handling]", "advance_replacement")
    page.click("button[value=start_return]")
    expect(page.locator(".messages")).to_contain_text("replacement sent now")
    expect(page.locator(".case-column")).to_contain_text("replacement")
    # and solving now is refused, saying what the customer still waits for (the shortcut, once the page loaded)
    page.wait_for_load_state("load")
    page.keyboard.press("s")
    expect(page.locator(".messages")).to_contain_text("has not been delivered yet")
    page.screenshot(path=str(SCREENSHOT_CASE), full_page=True)
    ticket.refresh_from_db()
    assert ticket.return_request.replacement_order is not None
    assert ticket.messages.filter(internal=True).count() == 1
    assert ticket.messages.filter(internal=False, from_customer=False).count() == 1
