"""The customer portal: sign-in, a customer's own orders, their parcels and timeline, email preferences."""

import pytest

from orders.services import order_add_note, order_transition
from tests.factories import CustomerFactory, ProductFactory, StaffFactory, place_order


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


def test_pages_need_a_signed_in_customer(client):
    response = client.get("/orders/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/orders/")


def test_sign_in_with_a_wrong_password_shows_a_form_error(client, customer):
    response = client.post("/accounts/login/", {"username": customer.username, "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_sign_in_leads_to_my_orders(client, customer):
    response = client.post("/accounts/login/", {"username": customer.username, "password": "secret-pass-123"})
    assert response.status_code == 302 and response["Location"] == "/orders/"


def test_a_customer_sees_only_their_own_orders(signed_in, customer):
    mine = place_order(customer=customer)
    theirs = place_order(customer=CustomerFactory())

    page = signed_in.get("/orders/").content.decode()

    assert mine.number in page and theirs.number not in page
    assert signed_in.get(f"/orders/{theirs.number}/").status_code == 404


def test_staff_get_the_customer_view_too_so_no_other_order_shows(client, customer):
    order = place_order(customer=customer)
    client.force_login(StaffFactory(group="Support agents"))
    assert client.get(f"/orders/{order.number}/").status_code == 404


def test_order_page_shows_timeline_without_internal_notes(signed_in, customer, staff_user):
    order = place_order(customer=customer, lines=[(ProductFactory(stock=3, name="Pixel 9"), 1)])
    order_transition(order=order.number, name="confirm", actor=staff_user)
    order_add_note(order=order.number, author=staff_user, text="Fraud score fine", internal=True)
    order_add_note(order=order.number, author=staff_user, text="Your gift wrap is on us", internal=False)

    page = signed_in.get(f"/orders/{order.number}/").content.decode()

    assert "Pixel 9" in page and "Confirmed" in page and "Your gift wrap is on us" in page
    assert "Fraud score fine" not in page
    assert staff_user.username not in page


def test_order_page_links_each_parcel_to_its_tracking_page(signed_in, customer, staff_user):
    from shipping.models import Carrier
    from shipping.services import shipment_create_all, shipment_transition

    order = place_order(customer=customer)
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=order.number, name=name, check_permission=False)
    (shipment,) = shipment_create_all(order=order.number)
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    shipment = shipment_transition(shipment=shipment.pk, name="create_label", carrier=Carrier.objects.get(code="local"))

    page = signed_in.get(f"/orders/{order.number}/").content.decode()

    assert f'href="/track/{shipment.tracking_number}/"' in page


def test_the_link_in_order_emails_opens_the_order_even_for_a_guest(db, client, mailoutbox,
                                                                    django_capture_on_commit_callbacks):
    import re

    from django.conf import settings

    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(email="guest@example.com")
    (mail,) = mailoutbox
    link = re.search(rf"{re.escape(settings.WAYBILL_SITE_URL)}(/orders/{order.number}/\?access=\S+)", mail.body)
    assert link, mail.body
    opened = client.get(link.group(1), follow=True)  # a guest, no account, no session yet
    assert opened.status_code == 200 and order.number in opened.content.decode()
    assert client.get(f"/orders/{order.number}/").status_code == 200  # the session keeps it open
    forged = client.get(f"/orders/{order.number}/?access=" + link.group(1).split("access=")[1][:-3] + "xyz")
    assert forged.status_code == 404


def test_order_list_queries_do_not_grow(signed_in, customer, django_assert_num_queries):
    product = ProductFactory(stock=100)
    for _ in range(3):
        place_order(customer=customer, lines=[(product, 1)])
    with django_assert_num_queries(6):  # session, user, count, page, its lines, its latest parcel news
        signed_in.get("/orders/")
    for _ in range(27):
        place_order(customer=customer, lines=[(product, 1)])
    with django_assert_num_queries(6):
        response = signed_in.get("/orders/")
    assert response.content.decode().count('href="/orders/WB-') == 20  # one page


def test_order_page_queries_do_not_grow_with_lines(signed_in, customer, django_assert_num_queries):
    small = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1) for _ in range(2)])
    large = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1) for _ in range(20)])
    signed_in.get(f"/orders/{small.number}/")
    with django_assert_num_queries(9) as small_queries:  # session, user, order, lines, timeline, carriers,
        # parcels, returns, whether a label bars an address change (parcels' lines and scans only with parcels)
        signed_in.get(f"/orders/{small.number}/")
    with django_assert_num_queries(len(small_queries.captured_queries)):
        signed_in.get(f"/orders/{large.number}/")


def test_a_customer_can_turn_off_non_essential_email(signed_in, customer):
    from notifications.selectors import notification_preference_for

    response = signed_in.post("/account/emails/", {})  # the box unticked

    assert response.status_code == 302
    assert notification_preference_for(user=customer).non_essential_email is False
    page = signed_in.get("/account/emails/").content.decode()
    assert "only get emails about orders and deliveries" in page
    signed_in.post("/account/emails/", {"non_essential_email": "on"})
    assert notification_preference_for(user=customer).non_essential_email is True
