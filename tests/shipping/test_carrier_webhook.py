"""The carrier webhook says what happened: clock drift, events that change nothing, and who may ask."""

import json

import pytest

from shipping.carriers import sign
from shipping.models import Carrier, Shipment

from .test_apis import event, labelled, post_event


def test_a_scan_stamped_a_little_before_the_label_is_applied(api_client, packed_order, parcelnet, settings):
    # given a label created just now, and a carrier whose clock is two minutes behind ours
    settings.WAYBILL_CARRIER_CLOCK_SKEW_SECONDS = 300
    shipment = labelled(packed_order)

    # when its pick-up scan arrives stamped two minutes before the label
    response = post_event(api_client, parcelnet, event(shipment.tracking_number, "pu", "PU", minutes=-2))

    # then the parcel is on its way (it used to stay "label created", with nothing said)
    assert response.status_code == 201
    assert response.json()["status"] == "in_transit"
    assert response.json()["changed"] is True
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.IN_TRANSIT


def test_the_tolerance_is_a_setting_and_an_older_event_says_it_changed_nothing(api_client, packed_order, parcelnet,
                                                                            settings):
    settings.WAYBILL_CARRIER_CLOCK_SKEW_SECONDS = 60
    shipment = labelled(packed_order)

    response = post_event(api_client, parcelnet, event(shipment.tracking_number, "pu", "PU", minutes=-2))

    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["changed"]) == ("label_created", False)
    assert "older" in body["detail"]
    assert shipment.events.filter(source="carrier", carrier_event_id="pu").exists()  # on the timeline all the same


def test_between_carrier_events_the_carriers_own_clock_decides(api_client, packed_order, parcelnet, settings):
    # given a parcel the carrier itself reported as a failed attempt at minute 10
    settings.WAYBILL_CARRIER_CLOCK_SKEW_SECONDS = 300
    shipment = labelled(packed_order)
    post_event(api_client, parcelnet, event(shipment.tracking_number, "1", "PU", minutes=1))
    post_event(api_client, parcelnet, event(shipment.tracking_number, "2", "NA", minutes=10))

    # when its out-for-delivery scan from minute 9 arrives late, the skew does not make it newer
    late = post_event(api_client, parcelnet, event(shipment.tracking_number, "3", "OD", minutes=9)).json()

    assert (late["status"], late["changed"]) == ("exception", False)


@pytest.mark.parametrize("code, words", [("IN", "informational"), ("ZZ", "not one we know")])
def test_a_scan_that_changes_nothing_says_so(api_client, packed_order, parcelnet, code, words):
    shipment = labelled(packed_order)

    body = post_event(api_client, parcelnet, event(shipment.tracking_number, "x", code, minutes=1)).json()

    assert body["changed"] is False and body["duplicate"] is False
    assert words in body["detail"] and "label created" in body["detail"]


def test_a_repeat_and_a_step_backwards_say_they_changed_nothing(api_client, packed_order, parcelnet):
    shipment = labelled(packed_order)
    number = shipment.tracking_number
    first = post_event(api_client, parcelnet, event(number, "dl", "DL", minutes=5)).json()
    repeat = post_event(api_client, parcelnet, event(number, "dl", "DL", minutes=5)).json()
    backwards = post_event(api_client, parcelnet, event(number, "it", "IT", minutes=50)).json()

    assert (first["changed"], first["status"]) == (True, "delivered")
    assert (repeat["duplicate"], repeat["changed"]) == (True, False) and "received before" in repeat["detail"]
    assert (backwards["duplicate"], backwards["changed"]) == (False, False)
    assert "delivered" in backwards["detail"]


def test_the_signature_is_checked_before_the_carrier_code_is_looked_at(api_client, parcelnet):
    # given one real carrier, an inactive one and a made-up code
    Carrier.objects.filter(code="swiftpost").update(active=False)
    body = json.dumps({"tracking_number": "X"}).encode()
    answers = []
    for code, secret in (("parcelnet", "guessed"), ("swiftpost", "guessed"), ("no-such-carrier", "guessed"),
                         ("no-such-carrier", "")):
        headers = {"HTTP_X_WAYBILL_SIGNATURE": sign(secret, body)} if secret else {}
        response = api_client.post(f"/api/carriers/{code}/events/", data=body, content_type="application/json",
                                   **headers)
        answers.append((response.status_code, response.json()))

    # then every answer is the same: nobody learns which carrier codes exist
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][0] == 401 and answers[0][1]["code"] == "bad_signature"


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 50 + b"1" + b"}" * 50,
                                 b'{"tracking_number": "PN\\u0000"}', b"\xff\xfe"])
def test_a_signed_pathological_body_is_a_400(api_client, packed_order, parcelnet, raw):
    response = post_event(api_client, parcelnet, None, raw=raw)

    assert response.status_code == 400, response.content[:200]
    assert set(response.json()) == {"code", "message", "extra"}
