import json
from datetime import timedelta

import pytest
from django.utils import timezone

from shipping.carriers import sign
from shipping.models import Carrier, Shipment
from shipping.services import shipment_create_all, shipment_transition
from tests.factories import CustomerFactory, ProductFactory, WarehouseFactory, place_order

from .conftest import line, pack


def labelled(order, carrier="parcelnet", tracking_number="PN1234567890"):
    shipment = shipment_create_all(order=order.number)[0]
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    return shipment_transition(shipment=shipment.pk, name="create_label", carrier=carrier,
                               tracking_number=tracking_number)


def post_event(client, carrier: Carrier, body, secret=None, header=True, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"HTTP_X_WAYBILL_SIGNATURE": sign(secret or carrier.webhook_secret, data)} if header else {}
    return client.post(f"/api/carriers/{carrier.code}/events/", data=data, content_type="application/json",
                       **headers)


def event(tracking_number, event_id="ev-1", code="PU", minutes=1, **extra):
    return {"tracking_number": tracking_number, "event_id": event_id, "status_code": code, "location": "Leeds",
            "occurred_at": (timezone.now() + timedelta(minutes=minutes)).isoformat(), "description": "Scan",
            **extra}


# --- list, detail, create, transitions ------------------------------------------------------------------------

def _make_shipments(n, customer=None):
    warehouse = WarehouseFactory(code="QC")
    for _ in range(n):
        product = ProductFactory(stock={"QC": 2})
        order = pack(place_order(customer=customer, lines=[(product, 1)]))
        shipment_create_all(order=order.number, carrier="local")
    return warehouse


def test_shipment_list_queries_do_not_grow(django_assert_max_num_queries, client_staff, django_assert_num_queries):
    _make_shipments(3)
    client_staff.get("/api/shipments/")  # the user's permissions are loaded once and cached on the user
    with django_assert_max_num_queries(3) as first:
        response = client_staff.get("/api/shipments/")
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    _make_shipments(27)
    with django_assert_num_queries(len(first.captured_queries)):
        response = client_staff.get("/api/shipments/")
    assert len(response.json()["results"]) == 30


def test_customer_sees_only_their_own_shipments(client_customer, customer):
    _make_shipments(2, customer=customer)
    _make_shipments(3, customer=CustomerFactory())
    response = client_customer.get("/api/shipments/")
    assert len(response.json()["results"]) == 2
    others = Shipment.objects.exclude(order__customer=customer).first()
    assert client_customer.get(f"/api/shipments/{others.pk}/").status_code == 404
    mine = Shipment.objects.filter(order__customer=customer).first()
    assert client_customer.get(f"/api/shipments/{mine.pk}/").status_code == 200
    response = client_customer.post(f"/api/shipments/{mine.pk}/transitions/pick/", {}, format="json")
    assert response.status_code == 403


def test_list_filters(client_staff, packed_order):
    north, south = shipment_create_all(order=packed_order.number, carrier="local")
    shipment_transition(shipment=north.pk, name="pick")
    get = lambda q: [r["id"] for r in client_staff.get(f"/api/shipments/?{q}").json()["results"]]  # noqa: E731
    assert get("status=picked") == [north.pk]
    assert get("warehouse=SOUTH") == [south.pk]
    assert sorted(get("carrier=local")) == sorted([north.pk, south.pk])
    assert get("carrier=parcelnet") == []
    assert len(get(f"date={timezone.localdate():%Y-%m-%d}")) == 2
    assert client_staff.get("/api/shipments/?status=nope").status_code == 400


def test_create_and_move_a_shipment_through_the_api(client_staff, packed_order):
    a = line(packed_order, "SKU-A")
    response = client_staff.post("/api/shipments/", {
        "order": packed_order.number, "warehouse": "NORTH", "carrier": "parcelnet",
        "lines": [{"line": a.pk, "quantity": 2}],
    }, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["lines"] == [{"line": a.pk, "sku": "SKU-A", "name": a.name, "quantity": 2, "serials": []}]
    pk = body["id"]
    for name in ("pick", "pack"):
        assert client_staff.post(f"/api/shipments/{pk}/transitions/{name}/", {}, format="json").status_code == 200
    bad = client_staff.post(f"/api/shipments/{pk}/transitions/create_label/", {"tracking_number": "nope"},
                            format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_shipment"
    ok = client_staff.post(f"/api/shipments/{pk}/transitions/create_label/", {"tracking_number": "PN5555555555"},
                           format="json")
    assert ok.json()["tracking_url"] == "https://parcelnet.example/track/PN5555555555"
    shipped = client_staff.post(f"/api/shipments/{pk}/transitions/hand_over/", {}, format="json").json()
    assert shipped["status"] == "in_transit"
    again = client_staff.post(f"/api/shipments/{pk}/transitions/hand_over/", {}, format="json")
    assert again.status_code == 409 and set(again.json()) == {"code", "message", "extra"}
    detail = client_staff.get(f"/api/shipments/{pk}/").json()
    assert [e["to_status"] for e in detail["events"]] == ["pending", "picked", "packed", "label_created",
                                                          "in_transit"]


def test_create_refuses_units_already_in_a_shipment(client_staff, packed_order):
    a = line(packed_order, "SKU-A")
    payload = {"order": packed_order.number, "warehouse": "NORTH", "lines": [{"line": a.pk, "quantity": 3}]}
    assert client_staff.post("/api/shipments/", payload, format="json").status_code == 201
    response = client_staff.post("/api/shipments/", payload, format="json")
    assert response.status_code == 400
    assert "lines[0].quantity" in response.json()["extra"]["fields"]
    assert client_staff.post("/api/shipments/", {**payload, "warehouse": "NOPE"}, format="json").status_code == 400
    assert client_staff.post("/api/shipments/", {"order": "x"}, format="json").status_code == 400


def test_customers_cannot_create_shipments(client_customer, packed_order):
    a = line(packed_order, "SKU-A")
    response = client_customer.post("/api/shipments/", {
        "order": packed_order.number, "warehouse": "NORTH", "lines": [{"line": a.pk, "quantity": 1}]},
        format="json")
    assert response.status_code == 403


# --- the carrier webhook --------------------------------------------------------------------------------------

def test_webhook_signature_is_required(api_client, packed_order, parcelnet):
    shipment = labelled(packed_order)
    body = event(shipment.tracking_number)
    assert post_event(api_client, parcelnet, body, header=False).status_code == 401
    response = post_event(api_client, parcelnet, body, secret="wrong")
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.LABEL_CREATED
    assert post_event(api_client, parcelnet, body).status_code == 201


def test_webhook_errors(api_client, packed_order, parcelnet):
    labelled(packed_order)
    assert post_event(api_client, parcelnet, None, raw=b"{not json").status_code == 400
    assert post_event(api_client, parcelnet, None, raw=b"[1, 2]").status_code == 400
    response = post_event(api_client, parcelnet, {"tracking_number": "PN1234567890"})
    assert response.status_code == 400 and "event_id" in response.json()["extra"]["fields"]
    response = post_event(api_client, parcelnet, event("PN9999999999"))
    assert response.status_code == 404 and response.json()["code"] == "tracking_number_not_found"
    nobody = api_client.post("/api/carriers/nobody/events/", data=b"{}", content_type="application/json")
    assert nobody.status_code == 401 and nobody.json()["code"] == "bad_signature"


def test_webhook_is_idempotent_and_keeps_time_order(api_client, packed_order, parcelnet):
    shipment = labelled(packed_order)
    number = shipment.tracking_number
    assert post_event(api_client, parcelnet, event(number, "a", "PU", 1)).status_code == 201
    repeat = post_event(api_client, parcelnet, event(number, "a", "PU", 1))
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert post_event(api_client, parcelnet, event(number, "c", "DL", 30)).json()["status"] == "delivered"
    late = post_event(api_client, parcelnet, event(number, "b", "IT", 10))
    assert late.status_code == 201 and late.json()["status"] == "delivered"
    codes = list(shipment.events.filter(source="carrier").values_list("carrier_status_code", flat=True))
    assert codes == ["PU", "IT", "DL"]


@pytest.mark.parametrize("code,expected", [("NA", "failed_attempt"), ("DM", "damaged"), ("LS", "lost")])
def test_exceptions_from_the_carrier(api_client, packed_order, parcelnet, code, expected):
    shipment = labelled(packed_order)
    post_event(api_client, parcelnet, event(shipment.tracking_number, "1", "PU", 1))
    body = post_event(api_client, parcelnet, event(shipment.tracking_number, "2", code, 2)).json()
    assert body["status"] == "exception"
    shipment.refresh_from_db()
    assert shipment.exception_reason == expected


def test_customer_detail_hides_staff_remarks(client_customer, customer):
    _make_shipments(1, customer=customer)
    shipment = Shipment.objects.get()
    shipment_transition(shipment=shipment.pk, name="pick", reason="Box dented, swapped it")
    events = client_customer.get(f"/api/shipments/{shipment.pk}/").json()["events"]
    assert [e["description"] for e in events] == ["Pending", "Picked"]
