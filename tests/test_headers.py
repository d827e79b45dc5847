"""Security headers on every page: a Content-Security-Policy without unsafe-inline, a Permissions-Policy, and
pages with a person's own data never stored by a browser or a shared cache."""

import pytest
from django.test import Client

from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db


def private_no_store(response) -> bool:
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= directives


@pytest.mark.parametrize("path", ["/orders/", "/account/emails/", "/orders/find/", "/accounts/login/",
                                  "/accounts/password_reset/"])
def test_portal_pages_are_private_and_never_stored(path):
    client = Client()
    client.force_login(CustomerFactory())
    response = client.get(path)
    assert response.status_code == 200
    assert private_no_store(response), response.get("Cache-Control")


@pytest.mark.parametrize("path", ["/support/", "/admin/", "/admin/orders/order/"])
def test_staff_pages_are_private_and_never_stored(path):
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    response = client.get(path)
    assert response.status_code == 200
    assert private_no_store(response), response.get("Cache-Control")


def test_every_page_has_a_strict_content_security_policy_and_a_permissions_policy():
    response = Client().get("/track/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "geolocation=()" in response["Permissions-Policy"] and "camera=()" in response["Permissions-Policy"]


def test_the_api_docs_come_from_our_own_static_files():
    swagger = Client().get("/api/docs/").content.decode()
    redoc = Client().get("/api/redoc/").content.decode()
    for page in (swagger, redoc):
        assert "cdn" not in page.lower() and "googleapis" not in page and "https://" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in swagger
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in redoc
