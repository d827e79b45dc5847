"""Outgoing webhooks: signed POSTs to a local receiver, logged, retried, endpoint disabled, replay."""

from __future__ import annotations

import time

import pytest

from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.webhooks import sign, verify_signature, webhook_delivery_replay, webhook_endpoint_enable
from tests.factories import CustomerFactory, place_order

from .conftest import wait_for


def test_signature_verifies_and_rejects_tampering():
    body, secret, now = b'{"event":"order.placed"}', "s3cret", 1_700_000_000
    header = sign(body=body, secret=secret, timestamp=now)
    assert verify_signature(body=body, header=header, secret=secret, now=now + 10)
    assert not verify_signature(body=body + b" ", header=header, secret=secret, now=now)
    assert not verify_signature(body=body, header=header, secret="other", now=now)
    assert not verify_signature(body=body, header=header, secret=secret, now=now + 301)
    assert not verify_signature(body=body, header="garbage", secret=secret, now=now)


def test_endpoint_receives_signed_json_for_the_events_it_subscribes_to(customer, webhook_receiver,
                                                                        django_capture_on_commit_callbacks):
    # given an endpoint subscribed to order.placed only
    endpoint = WebhookEndpoint.objects.create(url=webhook_receiver.url, secret="whsec-1", event_types=["order.placed"])
    # when an order is placed
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer)
    # then one signed POST carries the event
    (request,) = webhook_receiver.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert verify_signature(body=request["body"], header=headers["waybill-signature"], secret="whsec-1")
    assert headers["waybill-event"] == "order.placed"
    assert request["json"]["event"] == "order.placed"
    assert request["json"]["data"]["order_number"] == order.number
    # and the delivery is logged with its status code and response time
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.status, delivery.response_status) == (endpoint, "delivered", 200)
    assert delivery.response_ms is not None
    assert delivery.attempt_log.get().status_code == 200


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_failing_endpoint_is_retried_then_disabled_and_a_delivery_can_be_replayed(settings, worker,
                                                                                  webhook_receiver):
    # given an endpoint that answers 500, disabled after 3 failed attempts, and quick retries
    settings.WAYBILL_WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WAYBILL_WEBHOOK_MAX_ATTEMPTS = 10
    settings.WAYBILL_NOTIFY_RETRY_BASE_SECONDS = 0.05
    webhook_receiver.status = 500
    endpoint = WebhookEndpoint.objects.create(url=webhook_receiver.url, secret="whsec-2", event_types=["*"])
    # when an order is placed
    place_order(customer=CustomerFactory())
    # then the delivery is retried with backoff and the endpoint is disabled after the third failure
    wait_for(lambda: not WebhookEndpoint.objects.get(pk=endpoint.pk).active)
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(status="failed").first())
    time.sleep(0.3)
    assert len(webhook_receiver.requests) == 3
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [500, 500, 500]
    assert delivery.attempts == 3 and "HTTP 500" in delivery.last_error
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is not None and "3 failed attempts" in endpoint.disabled_reason
    # when staff fix the receiver, enable the endpoint and replay the delivery
    webhook_receiver.status = 204
    webhook_endpoint_enable(endpoint_ids=[endpoint.pk])
    assert webhook_delivery_replay(delivery_ids=[delivery.pk]) == 1
    # then it is delivered, and the same event id arrives again
    wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered")
    assert len(webhook_receiver.requests) == 4
    assert webhook_receiver.requests[-1]["json"]["id"] == webhook_receiver.requests[0]["json"]["id"]
