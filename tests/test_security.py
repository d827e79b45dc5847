"""Sign-in and abuse: every rate limit knows the real client behind the configured proxies; logins lock out;
password reset sends a bounded number of emails; the API throttles per user and per anonymous client."""

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse

from config.ratelimit import client_ip, login_lockout_response
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.7"  # the load balancer: every request behind it comes from this address


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def behind_proxy(client_address: str, *, spoofed: str = "") -> Client:
    """A browser at `client_address` reached through one proxy, which appends the address it saw."""
    forwarded = f"{spoofed}, {client_address}" if spoofed else client_address
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)


def request_from(remote: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


# --- the one helper ---------------------------------------------------------------------------------------------


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request_from("203.0.113.5", "198.51.100.1")) == "203.0.113.5"


def test_behind_proxies_the_client_is_counted_from_the_right(settings):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 2
    # given a client that wrote its own X-Forwarded-For, then the edge proxy and nginx appended theirs
    request = request_from("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.1")
    # then the address the outermost trusted proxy saw is the client, not the one the client made up
    assert client_ip(request) == "198.51.100.1"
    # a request that skipped a proxy (too few hops) is only its peer; garbage is never an address
    assert client_ip(request_from("10.0.0.2", "198.51.100.1")) == "10.0.0.2"
    assert client_ip(request_from("10.0.0.2", "not-an-ip, 10.0.0.1")) == "10.0.0.2"


# --- the tracking page and the guest order lookup ------------------------------------------------------------


def test_tracking_behind_a_proxy_gives_two_clients_two_buckets(settings):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    settings.WAYBILL_TRACKING_RATE_LIMIT = 2
    alice, bob = behind_proxy("198.51.100.1"), behind_proxy("198.51.100.2")

    assert [alice.get(f"/track/NOPE{i}/").status_code for i in range(3)] == [404, 404, 429]
    # bob comes through the same proxy but is somebody else
    assert bob.get("/track/NOPE/").status_code == 404
    # and alice cannot get a fresh bucket by writing her own X-Forwarded-For
    assert behind_proxy("198.51.100.1", spoofed="192.0.2.99").get("/track/NOPE/").status_code == 429


def test_tracking_with_no_trusted_proxy_ignores_a_spoofed_header(settings):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 0
    settings.WAYBILL_TRACKING_RATE_LIMIT = 2
    codes = [Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").get("/track/NOPE/").status_code
             for i in range(3)]
    assert codes == [404, 404, 429]


def test_order_lookup_behind_a_proxy_gives_two_clients_two_buckets(settings):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    settings.WAYBILL_ORDER_LOOKUP_LIMIT = 2
    url = reverse("portal:order-lookup")
    alice, bob = behind_proxy("198.51.100.1"), behind_proxy("198.51.100.2")

    codes = [alice.post(url, {"number": f"WB-{i:06d}", "email": "a@example.com"}).status_code for i in range(3)]
    assert codes == [400, 400, 429]
    assert bob.post(url, {"number": "WB-000099", "email": "b@example.com"}).status_code == 400


# --- sign-in lockout -----------------------------------------------------------------------------------------


def test_portal_sign_in_locks_out_after_the_failure_limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    user = CustomerFactory(username="ada@example.com", email="ada@example.com")
    browser = behind_proxy("198.51.100.1")
    url = reverse("login")

    # given three wrong passwords
    codes = [browser.post(url, {"username": "ADA@example.com", "password": f"wrong-{i}"}).status_code
             for i in range(3)]
    # then the third is answered with the lockout, and so is the right password afterwards
    assert codes[:2] == [200, 200] and codes[2] == 429
    locked = browser.post(url, {"username": "ada@example.com", "password": "secret-pass-123"})
    assert locked.status_code == 429 and not locked.wsgi_request.user.is_authenticated
    page = locked.content.decode()
    assert "Signing in paused" in page and "Too many failed sign-in attempts" in page
    assert 'class="site-header"' in page  # the portal's look
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()

    # another person behind the same proxy signs in as usual
    other = behind_proxy("198.51.100.2")
    assert other.post(url, {"username": user.username, "password": "secret-pass-123"}).status_code == 302


def test_admin_sign_in_locks_out_with_the_admin_look(settings):
    settings.AXES_FAILURE_LIMIT = 2
    staff = StaffFactory(username="warehouse-ann")
    browser = Client(REMOTE_ADDR="203.0.113.20")
    url = reverse("admin:login")

    for i in range(2):
        response = browser.post(url, {"username": staff.username, "password": f"wrong-{i}"})
    assert response.status_code == 429
    page = browser.post(url, {"username": staff.username, "password": "secret-pass-123"})
    assert page.status_code == 429
    html = page.content.decode()
    assert "Too many failed sign-in attempts" in html and "Waybill back office" in html


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_one_client_cannot_spray_passwords_over_many_accounts(settings, url_name):
    settings.WAYBILL_LOGIN_CLIENT_LIMIT = 3
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    url = reverse(url_name)
    sprayer = behind_proxy("198.51.100.66")

    # given one wrong password for each of many accounts (never enough for one account's lockout)
    codes = [sprayer.post(url, {"username": f"user{i}", "password": "Summer2026!"}).status_code for i in range(4)]

    # then the client is paused after the allowance, whatever the usernames
    assert codes == [200, 200, 200, 429]
    assert "Too many failed sign-in attempts" in sprayer.post(url, {"username": "x", "password": "y"}).content.decode()
    # and somebody else signs in as usual, as often as they like
    user = StaffFactory(username="ann")
    for _ in range(5):
        assert behind_proxy("198.51.100.67").post(url, {"username": user.username,
                                                       "password": "secret-pass-123"}).status_code == 302


@pytest.mark.parametrize("username", ["a" * 5000, "ab\x07", "a\x00b", " ADA@example.com "])
@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_odd_sign_in_input_is_a_failed_sign_in_never_a_500(settings, url_name, username):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="fe80::1%eth0, not-an-address")
    response = client.post(reverse(url_name), {"username": username, "password": "wrong"})
    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated


def test_lockout_under_the_api_is_json():
    request = RequestFactory().post("/api/orders/", REMOTE_ADDR="203.0.113.30")
    response = login_lockout_response(request, None, {"username": "x"})
    assert response.status_code == 429
    import json

    body = json.loads(response.content)
    assert body["code"] == "login_locked_out" and body["message"] and body["extra"]["retry_after_seconds"] > 0


# --- password reset ------------------------------------------------------------------------------------------


def test_password_reset_sends_a_bounded_number_of_emails_per_address(settings, mailoutbox):
    settings.WAYBILL_PASSWORD_RESET_LIMIT = 2
    CustomerFactory(username="grace@example.com", email="grace@example.com")
    url = reverse("password_reset")

    # when somebody asks for a link again and again from many addresses
    codes = [Client(REMOTE_ADDR=f"203.0.113.{i}").post(url, {"email": "grace@example.com"}).status_code
             for i in range(5)]

    # then only the allowance is sent; the rest are told to wait
    assert codes == [302, 302, 429, 429, 429]
    assert len(mailoutbox) == 2


def test_password_reset_is_limited_per_client(settings, mailoutbox):
    settings.WAYBILL_PASSWORD_RESET_LIMIT = 2
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    url = reverse("password_reset")
    for i in range(3):
        CustomerFactory(username=f"user{i}@example.com", email=f"user{i}@example.com")

    codes = [behind_proxy("198.51.100.1").post(url, {"email": f"user{i}@example.com"}).status_code for i in range(3)]
    assert codes == [302, 302, 429]
    page = behind_proxy("198.51.100.1").post(url, {"email": "user0@example.com"})
    assert "Too many reset requests" in page.content.decode()
    # somebody else behind the same proxy still gets their link
    assert behind_proxy("198.51.100.2").post(url, {"email": "user2@example.com"}).status_code == 302
    assert len(mailoutbox) == 3


def test_password_reset_answers_the_same_for_an_unknown_address(settings, mailoutbox):
    settings.WAYBILL_PASSWORD_RESET_LIMIT = 1
    url = reverse("password_reset")
    client = Client(REMOTE_ADDR="203.0.113.40")
    assert client.post(url, {"email": "nobody@example.com"}).status_code == 302
    assert Client(REMOTE_ADDR="203.0.113.41").post(url, {"email": "nobody@example.com"}).status_code == 429
    assert mailoutbox == []


# --- API throttling ------------------------------------------------------------------------------------------


@pytest.fixture
def low_api_rates(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "anon": "2/minute", "user": "3/minute", "carrier_events": "2/minute", "inbound_email": "2/minute"}}


def test_api_throttles_each_signed_in_user(low_api_rates, api_client):
    alice, bob = CustomerFactory(), CustomerFactory()
    api_client.force_authenticate(alice)
    codes = [api_client.get("/api/orders/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    body = api_client.get("/api/orders/").json()
    assert body["code"] == "throttled" and "message" in body and "extra" in body

    api_client.force_authenticate(bob)
    assert api_client.get("/api/orders/").status_code == 200


def test_api_throttles_each_anonymous_client_behind_the_proxy(low_api_rates, settings):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    alice, bob = behind_proxy("198.51.100.1"), behind_proxy("198.51.100.2")
    codes = [alice.get("/api/schema/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert alice.get("/api/schema/").has_header("Retry-After")
    assert bob.get("/api/schema/").status_code == 200


def test_carrier_webhooks_have_their_own_scope_per_client(low_api_rates, settings):
    settings.WAYBILL_TRUSTED_PROXY_COUNT = 1
    carrier = behind_proxy("198.51.100.50")
    codes = [carrier.post("/api/carriers/parcelnet/events/", data="{}", content_type="application/json").status_code
             for _ in range(3)]
    assert codes[:2] != [429, 429] and codes[2] == 429
    other = behind_proxy("198.51.100.51")
    assert other.post("/api/carriers/parcelnet/events/", data="{}",
                      content_type="application/json").status_code != 429
