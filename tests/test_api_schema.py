"""The OpenAPI schema renders, and drf-spectacular has nothing to warn about."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_renders(client_staff):
    response = client_staff.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    for path in ("/api/orders/", "/api/orders/{number}/", "/api/orders/{number}/transitions/{name}/",
                 "/api/stock/receive/", "/api/stock/adjust/", "/api/stock/transfer/", "/api/products/"):
        assert path in schema["paths"], path
    header_params = [p["name"] for p in schema["paths"]["/api/orders/"]["post"]["parameters"] if p["in"] == "header"]
    assert header_params == ["Idempotency-Key"]


def test_schema_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"

    # --fail-on-warn turns every drf-spectacular warning or error into a failure
    call_command("spectacular", "--file", str(target), "--validate", "--fail-on-warn")

    assert "Waybill API" in target.read_text()
