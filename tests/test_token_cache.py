"""API tokens are checked without a query per request, and never outlive a change of their token or user."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.authentication import CachedTokenAuthentication, _keys
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _client(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_a_known_token_costs_no_query_after_its_first_request(django_assert_num_queries):
    # given a customer's token, used once
    token = Token.objects.create(user=CustomerFactory())
    client = _client(token)
    with django_assert_num_queries(2):  # the token with its user, then the page of orders
        assert client.get("/api/orders/").status_code == 200

    # when it is used again, then only the page is read
    with django_assert_num_queries(1):
        assert client.get("/api/orders/").status_code == 200


def test_the_cache_keeps_no_password_hash_and_not_the_token_itself():
    user = CustomerFactory()
    token = Token.objects.create(user=user)
    user_back, _ = CachedTokenAuthentication().authenticate_credentials(token.key)
    entry_key, _ = _keys(token.key)

    entry = cache.get(entry_key)
    assert token.key not in entry_key and "password" not in entry["user"]
    assert entry["user"]["id"] == user.pk and user_back == user
    # and the user built from the cache reads its password from the database only when asked
    cached_user, cached_token = CachedTokenAuthentication().authenticate_credentials(token.key)
    assert "password" in cached_user.get_deferred_fields() and cached_user.check_password("secret-pass-123")
    assert (cached_token.key, cached_token.user_id) == (token.key, user.pk)


def test_a_deleted_token_is_refused_at_once():
    token = Token.objects.create(user=CustomerFactory())
    client = _client(token)
    assert client.get("/api/orders/").status_code == 200

    token.delete()

    assert client.get("/api/orders/").status_code == 401


def test_a_deactivated_user_is_refused_at_once():
    user = CustomerFactory()
    client = _client(Token.objects.create(user=user))
    assert client.get("/api/orders/").status_code == 200

    user.is_active = False
    user.save()

    response = client.get("/api/orders/")
    assert response.status_code == 401 and "inactive" in response.json()["message"]


def test_a_deleted_user_is_refused_at_once():
    user = CustomerFactory()
    client = _client(Token.objects.create(user=user))
    assert client.get("/api/orders/").status_code == 200

    user.delete()

    assert client.get("/api/orders/").status_code == 401


def test_a_change_of_the_user_is_seen_by_the_next_request():
    # given staff with a cached token
    staff = StaffFactory(group="Warehouse staff")
    token = Token.objects.create(user=staff)
    assert CachedTokenAuthentication().authenticate_credentials(token.key)[0].is_staff

    # when they stop being staff
    staff.is_staff = False
    staff.save()

    # then the next request knows
    user, _ = CachedTokenAuthentication().authenticate_credentials(token.key)
    assert not user.is_staff


def test_what_was_read_before_a_change_is_not_kept_after_it(monkeypatch):
    # given a request that reads the token's user from the database just before the user is deactivated
    from rest_framework.authentication import TokenAuthentication

    user = CustomerFactory()
    token = Token.objects.create(user=user)
    read = TokenAuthentication.authenticate_credentials

    def read_then_deactivated(self, key):
        found = read(self, key)
        type(user).objects.filter(pk=user.pk).update(is_active=False)  # the change commits in between...
        user.is_active = False
        user.save()  # ... and is heard (post_save) before this request stores what it read
        return found

    monkeypatch.setattr(TokenAuthentication, "authenticate_credentials", read_then_deactivated)
    CachedTokenAuthentication().authenticate_credentials(token.key)
    monkeypatch.undo()

    # then the entry stored with the active user is never used: the next request reads the database again
    response = _client(token).get("/api/orders/")
    assert response.status_code == 401
