"""The returns API: the whole story through HTTP, customers limited to their own returns, idempotent writes,
refusals as {code, message, extra}, and list and detail costs that do not grow with the rows."""

import io
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from inventory.models import StockMovement
from notifications.models import OutboxMessage
from orders.models import Order
from returns.models import Refund, ReturnEvent, ReturnRequest
from shipping.carriers import sign
from shipping.models import Carrier, Shipment
from tests.factories import CustomerFactory

from .conftest import IMEI_SOLD, IMEI_SPARE, line, together

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


_ids = iter(range(1, 100_000))


def webhook(shipment: Shipment, code: str):
    carrier = Carrier.objects.get(pk=shipment.carrier_id)
    body = json.dumps({"tracking_number": shipment.tracking_number, "event_id": f"api-{next(_ids)}",
                       "status_code": code, "occurred_at": timezone.now().isoformat(), "location": "Leeds"}).encode()
    response = APIClient().post(f"/api/carriers/{carrier.code}/events/", data=body, content_type="application/json",
                                HTTP_X_WAYBILL_SIGNATURE=sign(carrier.webhook_secret, body))
    assert response.status_code in (200, 201), response.content


def ship_through_api(warehouse, order_number: str, serials: dict[str, str]):
    """The warehouse's API path for one order: confirm, process, pack, one shipment, scan, label, hand over."""
    for name in ("confirm", "start_processing", "pack"):
        r = warehouse.post(f"/api/orders/{order_number}/transitions/{name}/", {"reason": ""}, format="json")
        assert r.status_code == 200, r.json()
    order = Order.objects.get(number=order_number)
    created = warehouse.post("/api/shipments/", {"order": order_number, "warehouse": "NORTH", "carrier": "local",
                                                 "lines": [{"line": ln.pk, "quantity": ln.quantity}
                                                           for ln in order.lines.all()]}, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    warehouse.post(f"/api/shipments/{pk}/transitions/pick/", {}, format="json")
    scans = [{"line": order.lines.get(sku=sku).pk, "serials": [serial]} for sku, serial in serials.items()]
    packed = warehouse.post(f"/api/shipments/{pk}/transitions/pack/", {"serials": scans}, format="json")
    assert packed.status_code == 200, packed.json()
    labelled = warehouse.post(f"/api/shipments/{pk}/transitions/create_label/", {}, format="json")
    assert labelled.status_code == 200, labelled.json()
    shipment = Shipment.objects.get(pk=pk)
    webhook(shipment, "PICKED_UP")
    return shipment


def test_the_whole_story_through_the_api(customer, phone, case, staff_user, agent_user,
                                         django_capture_on_commit_callbacks):
    shopper, warehouse, support = client_for(customer), client_for(staff_user), client_for(agent_user)
    # a customer orders a phone; it is packed with its IMEI, shipped and delivered (carrier webhook)
    placed = shopper.post("/api/orders/", {"shipping_address": {"name": "Ada", "line1": "1 Row", "city": "London",
                                                                "country": "GB"},
                                           "lines": [{"sku": "PH-1", "quantity": 1}]}, format="json")
    assert placed.status_code == 201
    number = placed.json()["number"]
    Order.objects.filter(number=number).update(payment_status="paid")
    parcel = ship_through_api(warehouse, number, {"PH-1": IMEI_SOLD})
    webhook(parcel, "DELIVERED")
    assert Order.objects.get(number=number).status == "delivered"
    order = Order.objects.get(number=number)

    # the customer claims a defect naming the IMEI
    with django_capture_on_commit_callbacks(execute=True):
        claim = shopper.post("/api/returns/", {"order": number, "resolution": "replacement", "lines": [
            {"line": line(order, "PH-1").pk, "quantity": 1, "reason": "defective", "serial": IMEI_SOLD,
             "description": "Battery swells"}]}, format="json", HTTP_IDEMPOTENCY_KEY="claim-1")
    assert claim.status_code == 201, claim.json()
    rr = claim.json()
    assert (rr["status"], rr["channel"], rr["lines"][0]["serial"]) == ("requested", "api", IMEI_SOLD)
    assert rr["allowed_transitions"] == ["cancel"] and rr["warehouse"] == ""

    # support sends a replacement at once; the faulty unit is to come back with the label
    approved = support.post(f"/api/returns/{rr['number']}/transitions/approve/",
                            {"handling": "advance_replacement"}, format="json").json()
    assert approved["status"] == "awaiting_item" and approved["label"]["tracking_number"]
    replacement = approved["replacement_order"]
    assert Order.objects.get(number=replacement).replaces_id == order.pk

    # the replacement leaves with a new IMEI and is delivered
    with django_capture_on_commit_callbacks(execute=True):
        sent = ship_through_api(warehouse, replacement, {"PH-1": IMEI_SPARE})
    webhook(sent, "DELIVERED")

    # the faulty phone comes back, is received, inspected and scrapped; the return is resolved and closed
    label = Shipment.objects.get(tracking_number=approved["label"]["tracking_number"])
    webhook(label, "PICKED_UP")
    webhook(label, "DELIVERED")
    assert warehouse.post(f"/api/returns/{rr['number']}/transitions/receive/", {}, format="json").status_code == 200
    inspected = warehouse.post(f"/api/returns/{rr['number']}/inspection/", {"lines": [
        {"line": rr["lines"][0]["id"], "disposition": "scrap", "note": "Swollen battery"}]}, format="json")
    assert inspected.status_code == 200, inspected.json()
    for step in ("resolve", "close"):
        assert support.post(f"/api/returns/{rr['number']}/transitions/{step}/", {}, format="json").status_code == 200

    # then the customer's view tells the story without staff-only facts, and names both units
    mine = shopper.get(f"/api/returns/{rr['number']}/").json()
    assert mine["status"] == "closed"
    assert (mine["lines"][0]["serial"], mine["lines"][0]["replacement_serial"]) == (IMEI_SOLD, IMEI_SPARE)
    assert all(not e["internal"] for e in mine["timeline"])
    assert ReturnEvent.objects.filter(return_request__number=rr["number"], internal=True).exists()
    assert "Swollen battery" not in json.dumps(mine) and "disposition" not in mine["lines"][0]
    # and staff see the serial histories from the serial
    history = support.get(f"/api/serials/{IMEI_SOLD}/").json()["units"][0]["history"]
    assert [h["kind"] for h in history][-3:] == ["return_received", "inspected", "scrapped"]
    spare = support.get(f"/api/serials/{IMEI_SPARE}/").json()["units"][0]["history"]
    assert spare[-1]["kind"] == "shipped" and spare[-1]["order_number"] == replacement
    # and the ledger has the write-off of the faulty unit, naming the return
    assert StockMovement.objects.filter(kind="write_off", reference_label=f"return {rr['number']}").count() == 1
    # and each customer-visible step was recorded for the customer once
    for event in ("return.requested", "return.approved", "return.replacement_shipped", "return.received"):
        assert OutboxMessage.objects.filter(event=event, suppressed_for_customer=False).count() == 1, event
    # and the order's timeline, through the API, carries the return
    timeline = shopper.get(f"/api/orders/{number}/").json()["timeline"]
    assert any(e["kind"] == "return" and rr["number"] in e["text"] for e in timeline)


def test_a_customer_sees_and_returns_only_their_own(delivered, customer):
    stranger = client_for(CustomerFactory())
    body = {"order": delivered.number, "resolution": "refund",
            "lines": [{"line": line(delivered, "CASE-1").pk, "quantity": 1, "reason": "no_longer_wanted"}]}
    assert stranger.post("/api/returns/", body, format="json").status_code == 404
    created = client_for(customer).post("/api/returns/", body, format="json").json()
    assert stranger.get(f"/api/returns/{created['number']}/").status_code == 404
    assert stranger.get("/api/returns/").json()["results"] == []
    assert stranger.post(f"/api/returns/{created['number']}/transitions/cancel/", {}, format="json"
                         ).status_code == 404
    assert APIClient().get("/api/returns/").status_code in (401, 403)
    mine = client_for(customer)
    assert [r["number"] for r in mine.get("/api/returns/").json()["results"]] == [created["number"]]
    assert mine.post(f"/api/returns/{created['number']}/transitions/approve/", {}, format="json").status_code == 403
    cancelled = mine.post(f"/api/returns/{created['number']}/transitions/cancel/", {}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize("body, status, code", [
    ({"order": "X", "resolution": "refund", "lines": []}, 400, "invalid"),
    ({"order": "{o}", "resolution": "refund", "lines": [{"line": "{case}", "quantity": 3,
                                                         "reason": "no_longer_wanted"}]}, 409, "return_not_allowed"),
    ({"order": "{o}", "resolution": "refund", "lines": [{"line": "{case}", "quantity": 1, "reason": "meh"}]},
     400, "invalid"),
    ({"order": "{o}", "resolution": "replacement", "lines": [{"line": "{phone}", "quantity": 1,
                                                              "reason": "defective", "serial": "352099001761481"}]},
     409, "return_not_allowed"),
    ({"order": "{o}", "resolution": "refund", "lines": [{"line": "{case}", "quantity": 10 ** 30,
                                                         "reason": "defective"}]}, 400, "invalid"),
    ({"order": "{o}", "resolution": "refund", "lines": [{"line": "{case}", "quantity": 1, "reason": "defective",
                                                         "description": "a\x00b"}]}, 400, "invalid"),
    ({"order": "{o}", "resolution": "exchange", "lines": [{"line": "{case}", "quantity": 1, "reason": "defective"}],
      "exchange_sku": "NOPE"}, 400, "invalid_return"),
])
def test_refusals_are_clear_and_write_nothing(delivered, customer, body, status, code):
    text = json.dumps(body).replace('"{o}"', json.dumps(delivered.number)).replace(
        '"{case}"', str(line(delivered, "CASE-1").pk)).replace('"{phone}"', str(line(delivered, "PH-1").pk))
    response = client_for(customer).post("/api/returns/", data=text, content_type="application/json")
    assert response.status_code == status, response.json()
    assert set(response.json()) == {"code", "message", "extra"} and response.json()["code"] == code
    assert not ReturnRequest.objects.exists()


def test_pathological_bodies_are_a_400(delivered, customer):
    shopper = client_for(customer)
    for raw in ['{"order": ', "[" * 5000 + "]" * 5000, '{"order": "' + "x" * 100 + '"}', "\x00"]:
        response = shopper.post("/api/returns/", data=raw, content_type="application/json")
        assert response.status_code == 400, raw[:20]
    assert shopper.get("/api/returns/%00%FF/").status_code == 400  # control characters in the URL
    assert shopper.get("/api/returns/%FF/").status_code == 404


def test_the_same_key_replays_and_another_body_is_a_422(delivered, customer):
    shopper = client_for(customer)
    body = {"order": delivered.number, "resolution": "refund",
            "lines": [{"line": line(delivered, "CASE-1").pk, "quantity": 1, "reason": "no_longer_wanted"}]}
    first = shopper.post("/api/returns/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = shopper.post("/api/returns/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["number"] == first.json()["number"] and again["Idempotent-Replayed"] == "true"
    assert ReturnRequest.objects.count() == 1
    other = shopper.post("/api/returns/", {**body, "customer_note": "changed"}, format="json",
                         HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # a refused request does not use up its key
    refused = shopper.post("/api/returns/", {**body, "lines": [{**body["lines"][0], "quantity": 5}]}, format="json",
                           HTTP_IDEMPOTENCY_KEY="k-2")
    assert refused.status_code == 409
    assert shopper.post("/api/returns/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_refund_retried_concurrently_with_the_same_key_is_issued_once(postgres, customer, north, agent_user):
    from orders.services import order_set_payment_status
    from tests.factories import ProductFactory, place_order

    case = ProductFactory(sku="CASE-1", price="19.90", stock={"NORTH": 5})
    order = place_order(customer=customer, lines=[(case, 1)])
    order_set_payment_status(order=order.number, payment_status="paid")

    def refund():
        response = client_for(agent_user).post(f"/api/orders/{order.number}/refunds/", {
            "items_amount": "5.00", "reason": "Late delivery"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
        return response.status_code, response.json()["id"]

    results = together(refund)
    assert [code for code, _ in results] == [201, 201] and results[0][1] == results[1][1]
    assert Refund.objects.count() == 1
    assert Order.objects.get(pk=order.pk).refunded_total == Decimal("5.00")


def test_refunds_through_the_api_are_capped_and_staff_only(delivered, customer, agent_user):
    support = client_for(agent_user)
    url = f"/api/orders/{delivered.number}/refunds/"
    assert client_for(customer).post(url, {"items_amount": "1", "reason": "x"}, format="json").status_code == 403
    too_much = support.post(url, {"items_amount": "99999", "reason": "x"}, format="json")
    assert too_much.status_code == 409 and too_much.json()["extra"]["refundable"] == str(delivered.total)
    ok = support.post(url, {"items_amount": "10.00", "shipping_amount": "0", "reason": "Scratch"}, format="json")
    assert ok.status_code == 201 and ok.json()["amount"] == "10.00"


def test_photos_upload_for_the_customer_of_the_return(delivered, customer):
    shopper = client_for(customer)
    created = shopper.post("/api/returns/", {"order": delivered.number, "resolution": "refund", "lines": [
        {"line": line(delivered, "CASE-1").pk, "quantity": 1, "reason": "damaged_in_transit"}]}, format="json").json()
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(buffer, "JPEG")
    buffer.seek(0)
    buffer.name = "crack.jpg"
    url = f"/api/returns/{created['number']}/photos/"
    done = shopper.post(url, {"line": created["lines"][0]["id"], "photo": buffer}, format="multipart")
    assert done.status_code == 201, done.json()
    assert len(done.json()["lines"][0]["photos"]) == 1
    fake = io.BytesIO(b"GIF89a not really")
    fake.name = "x.jpg"
    bad = shopper.post(url, {"line": created["lines"][0]["id"], "photo": fake}, format="multipart")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_photo"


def test_list_and_detail_cost_the_same_for_few_and_many(delivered, customer, agent_user):
    from returns.services import return_create

    support = client_for(agent_user)

    def claim():
        return return_create(order=delivered, resolution="refund", lines=[
            {"line": line(delivered, "CASE-1").pk, "quantity": 1, "reason": "no_longer_wanted"}])

    first = claim()

    def cost(url):
        with CaptureQueriesContext(connection) as ctx:
            assert support.get(url).status_code == 200
        return len(ctx.captured_queries)

    urls = ["/api/returns/", "/api/returns/?status=requested&reason=no_longer_wanted",
            f"/api/returns/{first.number}/"]
    [cost(u) for u in urls]  # the first request also loads the user's permissions
    before = [cost(u) for u in urls]
    claim()
    assert [cost(u) for u in urls] == before
