"""The portal's new pages: a guest finds an order, a customer reports a problem, follows returns and talks to
support; anyone else's things are a 404; the order page updates itself."""

import pytest
from django.test import Client
from django.urls import reverse

from returns.models import ReturnRequest
from support.models import Ticket
from support.services import ticket_open, ticket_reply
from tests.factories import CustomerFactory, StaffFactory
from tests.returns.conftest import IMEI_SOLD, carrier_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper(customer):
    client = Client()
    client.force_login(customer)
    return client


def test_a_guest_finds_their_order_and_a_wrong_pair_learns_nothing(client, delivered, settings):
    url = reverse("portal:order-lookup")
    wrong_email = client.post(url, {"number": delivered.number, "email": "someone@else.example"})
    unknown = client.post(url, {"number": "WB-2222-3333", "email": delivered.email})
    assert wrong_email.status_code == unknown.status_code == 400
    assert wrong_email.context["form"].non_field_errors() == unknown.context["form"].non_field_errors()
    assert client.get(reverse("portal:order-detail", args=[delivered.number])).status_code == 404
    found = client.post(url, {"number": delivered.number.lower(), "email": delivered.email.upper()})
    assert found.status_code == 302 and client.get(found.url).status_code == 200


def test_lookups_are_rate_limited(client, delivered, settings):
    settings.WAYBILL_ORDER_LOOKUP_LIMIT = 3
    url = reverse("portal:order-lookup")
    for _ in range(3):
        client.post(url, {"number": delivered.number, "email": "guess@example.com"})
    limited = client.post(url, {"number": delivered.number, "email": delivered.email})
    assert limited.status_code == 429 and "Too many tries" in limited.content.decode()


def test_anyone_elses_things_are_a_404(client, customer, delivered):
    rr = ReturnRequest.objects.create(order=delivered, customer=customer, email=customer.email, resolution="refund")
    ticket = ticket_open(subject="Mine", body="Private", customer=customer, notify=False)
    stranger = Client()
    stranger.force_login(CustomerFactory())
    urls = [reverse("portal:order-detail", args=[delivered.number]),
            reverse("portal:report-problem", args=[delivered.number]),
            reverse("portal:return-detail", args=[rr.number]), reverse("portal:return-label", args=[rr.number]),
            reverse("portal:ticket-detail", args=[ticket.number]),
            reverse("portal:order-address", args=[delivered.number]),
            reverse("portal:order-invoice", args=[delivered.number]),
            reverse("portal:order-detail", args=["WB-%00-ÿÿ"])]
    for visitor in (stranger, client):
        for url in urls:
            assert visitor.get(url).status_code in (404, 302), url  # 302: sign in first (ticket pages)
    assert stranger.get(reverse("portal:ticket-detail", args=[ticket.number])).status_code == 404
    assert stranger.post(reverse("portal:order-cancel", args=[delivered.number]), {"reason": "x"}).status_code == 404
    assert stranger.post(reverse("portal:order-address", args=[delivered.number]), {}).status_code == 404


def test_reporting_a_defective_phone_makes_a_claim_and_a_conversation(shopper, customer, delivered):
    url = reverse("portal:report-problem", args=[delivered.number])
    page = shopper.get(url)
    form = page.context["form"]
    assert form.fields["serial"].initial == IMEI_SOLD  # the unit shipped to them is preselected
    assert "30 days of delivery" in page.content.decode()
    phone_line = delivered.lines.get(sku="PH-1")
    response = shopper.post(url, {"line": phone_line.pk, "quantity": 1, "serial": IMEI_SOLD, "reason": "defective",
                                  "resolution": "replacement", "description": "Restarts every few minutes."})
    rr = ReturnRequest.objects.get()
    assert response.status_code == 302 and response.url == reverse("portal:return-detail", args=[rr.number])
    assert (rr.channel, rr.lines.get().unit.serial) == ("portal", IMEI_SOLD)
    ticket = Ticket.objects.get()
    assert (ticket.return_request, ticket.category, ticket.serial) == (rr, "defect", IMEI_SOLD)
    detail = shopper.get(response.url).content.decode()
    assert rr.number in detail and "Requested" in detail
    # the same unit twice is refused on the form, with the reason
    again = shopper.post(url, {"line": phone_line.pk, "quantity": 1, "serial": IMEI_SOLD, "reason": "defective",
                               "resolution": "replacement"})
    assert again.status_code in (200, 400)
    assert ReturnRequest.objects.count() == 1


def test_a_change_of_mind_outside_the_window_is_explained(shopper, delivered, settings):
    from django.utils import timezone

    from shipping.models import Shipment

    Shipment.objects.filter(order=delivered).update(delivered_at=timezone.now() - timezone.timedelta(days=60))
    case_line = delivered.lines.get(sku="CASE-1")
    response = shopper.post(reverse("portal:report-problem", args=[delivered.number]), {
        "line": case_line.pk, "quantity": 1, "reason": "no_longer_wanted", "resolution": "refund"})
    assert response.status_code == 400
    assert "return window for CASE-1" in str(response.context["form"].non_field_errors())


def test_contact_us_and_the_conversation_without_notes(shopper, customer, delivered, agents):
    ann, _ = agents
    response = shopper.post(reverse("portal:ticket-new"), {"order": delivered.number, "category": "delivery",
                                                           "subject": "Late", "body": "Where is it?"})
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and (ticket.order, ticket.channel) == (delivered, "portal")
    ticket_reply(ticket=ticket.number, author=ann, body="Driver notes: SECRET", internal=True)
    ticket_reply(ticket=ticket.number, author=ann, body="It arrives tomorrow.")
    page = shopper.get(reverse("portal:ticket-detail", args=[ticket.number])).content.decode()
    assert "It arrives tomorrow." in page and "SECRET" not in page and ">ann<" not in page
    shopper.post(reverse("portal:ticket-detail", args=[ticket.number]), {"body": "Thanks!"})
    assert Ticket.objects.get(pk=ticket.pk).status == "open"


def test_the_order_page_updates_itself_while_the_parcel_moves(shopper, customer, phone):
    from shipping.services import shipment_create_all, shipment_transition
    from tests.factories import place_order
    from tests.shipping.conftest import pack

    order = pack(place_order(customer=customer, lines=[(phone, 1)]))
    (parcel,) = shipment_create_all(order=order.number, carrier="local")
    shipment_transition(shipment=parcel.pk, name="pick")
    shipment_transition(shipment=parcel.pk, name="pack", serials={order.lines.get().pk: [IMEI_SOLD]})
    parcel = shipment_transition(shipment=parcel.pk, name="create_label")
    url = reverse("portal:order-detail", args=[order.number])
    assert 'hx-trigger="every 10s"' in shopper.get(url).content.decode()  # WAYBILL_PORTAL_REFRESH_SECONDS
    carrier_event(parcel, "PICKED_UP")
    live = shopper.get(url, {"part": "live"}, HTTP_HX_REQUEST="true").content.decode()
    assert live.lstrip().startswith('<div id="live"') and "Your parcel left our warehouse with Local courier" in live
    assert "NORTH" not in live and "staff" not in live.lower()


def test_staff_see_the_label_but_not_other_peoples_orders(delivered, agents):
    staff = Client()
    staff.force_login(StaffFactory(group="Support agents"))
    assert staff.get(reverse("portal:order-detail", args=[delivered.number])).status_code == 404


def test_a_customer_cancels_while_it_is_allowed(shopper, customer, case):
    from tests.factories import place_order

    order = place_order(customer=customer, lines=[(case, 1)])
    url = reverse("portal:order-cancel", args=[order.number])
    assert shopper.post(url, {"reason": ""}, follow=True).status_code == 200
    order.refresh_from_db()
    assert order.status == "placed"
    shopper.post(url, {"reason": "Ordered the wrong colour"})
    order.refresh_from_db()
    assert order.status == "cancelled" and "wrong colour" in order.events.last().text
    page = shopper.get(reverse("portal:order-detail", args=[order.number])).content.decode()
    assert "Cancel this order" not in page


def test_the_address_changes_until_the_label_and_staff_hear_of_it(shopper, customer, phone, settings):
    from notifications.models import OutboxMessage
    from shipping.services import shipment_create_all, shipment_transition
    from tests.factories import place_order
    from tests.shipping.conftest import pack

    order = pack(place_order(customer=customer, lines=[(phone, 1)]))
    url = reverse("portal:order-address", args=[order.number])
    new = {"name": "Ada Lovelace", "line1": "1 New Street", "city": "Cambridge", "postal_code": "CB1 1AA",
           "country": "GB"}
    assert shopper.post(url, {**new, "country": "ZZ"}).status_code == 400
    assert shopper.post(url, new).status_code == 302
    order.refresh_from_db()
    assert (order.ship_line1, order.ship_city) == ("1 New Street", "Cambridge")
    assert OutboxMessage.objects.filter(event="order.address_changed_alert").count() == 1
    (parcel,) = shipment_create_all(order=order.number, carrier="local")
    shipment_transition(shipment=parcel.pk, name="pick")
    shipment_transition(shipment=parcel.pk, name="pack", serials={order.lines.get().pk: [IMEI_SOLD]})
    shipment_transition(shipment=parcel.pk, name="create_label")
    late = shopper.post(url, {**new, "line1": "2 Other Road"})
    assert late.status_code == 400 and "already carries its label" in str(late.context["form"].non_field_errors())
    assert "Change the delivery address" not in shopper.get(
        reverse("portal:order-detail", args=[order.number])).content.decode()
    assert "can no longer change" in shopper.get(url).content.decode()


def test_the_invoice_is_a_pdf_of_the_customers_own_order(shopper, delivered):
    response = shopper.get(reverse("portal:order-invoice", args=[delivered.number]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join([response.content]).startswith(b"%PDF")
    stranger = Client()
    stranger.force_login(CustomerFactory())
    assert stranger.get(reverse("portal:order-invoice", args=[delivered.number])).status_code == 404


def test_every_email_we_sent_is_readable_in_the_portal(shopper, customer, case, django_capture_on_commit_callbacks):
    from notifications.models import Notification
    from tests.factories import place_order

    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer, lines=[(case, 1)])
    (notification,) = Notification.objects.filter(customer=customer)
    page = shopper.get(reverse("portal:notification", args=[notification.pk])).content.decode()
    assert order.number in page and "access=" in page  # the email's own link, which opens the order
    stranger = Client()
    stranger.force_login(CustomerFactory())
    assert stranger.get(reverse("portal:notification", args=[notification.pk])).status_code == 404


def test_a_missing_page_says_what_to_do_next(client):
    response = client.get("/orders/WB-2222-3333/")
    page = response.content.decode()
    assert response.status_code == 404 and "find it with its number and email" in page


def test_a_customer_replies_with_a_file_and_reopens_a_solved_conversation(shopper, customer, agents):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ann, _ = agents
    ticket = ticket_open(subject="Receipt", body="I need a receipt.", customer=customer, notify=False)
    ticket_reply(ticket=ticket.number, author=ann, body="Here you are.", then="solved")
    url = reverse("portal:ticket-detail", args=[ticket.number])
    assert "Write again" in shopper.get(url).content.decode()
    shopper.post(url, {"body": "The company name is missing.",
                       "attachments": SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt")})
    ticket.refresh_from_db()
    assert ticket.status == "open"
    message = ticket.messages.filter(from_customer=True).last()
    assert [a.filename for a in message.attachments.all()] == ["receipt.pdf"]
    refused = shopper.post(url, {"body": "And this", "attachments": SimpleUploadedFile("x.exe", b"MZ\x90\x00")})
    assert refused.status_code == 400 and "not a PDF, an image or a text file" in refused.content.decode()
