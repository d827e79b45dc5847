"""Sign up with a verified email; the orders a guest placed with it join the account; password reset pages."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import Order
from tests.factories import place_order

pytestmark = pytest.mark.django_db


def test_sign_up_verify_and_find_the_guest_orders(client, mailoutbox, django_capture_on_commit_callbacks):
    guest_order = place_order(email="Grace@Example.com")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:signup"), {"name": "Grace Hopper", "email": "grace@example.com",
                                                          "password1": "cobol-is-fine-1959",
                                                          "password2": "cobol-is-fine-1959"})
    assert response.status_code == 200 and "Check your email" in response.content.decode()
    user = get_user_model().objects.get(email="grace@example.com")
    signin = client.post(reverse("login"), {"username": "grace@example.com", "password": "cobol-is-fine-1959"})
    assert not user.is_active and signin.status_code == 200 and not signin.wsgi_request.user.is_authenticated
    (mail,) = mailoutbox
    link = re.search(r"http://\S+/account/verify/\S+/", mail.body).group(0)
    verified = client.get(link, follow=True)
    assert verified.status_code == 200 and "1 earlier order joined it" in verified.content.decode()
    assert Order.objects.get(pk=guest_order.pk).customer == user
    assert guest_order.number in client.get(reverse("portal:order-list")).content.decode()
    # the link works once
    client.logout()
    again = client.get(link)
    assert again.status_code == 400


def test_sign_up_refusals_are_form_errors(client, customer):
    taken = client.post(reverse("portal:signup"), {"name": "Ada", "email": customer.email.upper(),
                                                   "password1": "a-long-password-1", "password2": "a-long-password-1"})
    assert taken.status_code == 400 and "already" in str(taken.context["form"].errors)
    weak = client.post(reverse("portal:signup"), {"name": "Bo", "email": "bo@example.com", "password1": "12345678",
                                                  "password2": "12345678"})
    assert weak.status_code == 400 and "password1" in weak.context["form"].errors
    assert client.get(reverse("portal:verify", args=["xx", "nope"])).status_code == 400


def test_password_reset_pages_are_the_portals(client, customer, mailoutbox):
    page = client.get(reverse("password_reset")).content.decode()
    assert "Reset your password" in page and 'class="site-header"' in page  # the portal's look, not Django's
    done = client.post(reverse("password_reset"), {"email": customer.email}, follow=True)
    assert "Check your email" in done.content.decode() and len(mailoutbox) == 1
