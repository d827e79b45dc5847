"""The notification log, the outbox backlog and webhook deliveries in the admin."""

from __future__ import annotations

from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from notifications.services import notification_emit
from tests.factories import place_order

from .conftest import mails_to


def _emit_for(orders):
    for order in orders:
        notification_emit(event="order.confirmed", subject=order, payload={"order_number": order.number},
                          idempotency_key=f"admin-test:{order.number}")


def test_notification_log_queries_do_not_grow(admin_client, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            place_order(customer=customer)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get("/admin/notifications/notification/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(27):
            place_order(customer=customer)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get("/admin/notifications/notification/")
    assert response.status_code == 200
    assert Notification.objects.count() == 30
    assert len(many) == len(few)


def test_notification_log_filters_by_event_status_channel_and_customer(admin_client, customer,
                                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer)
        _emit_for([order])
    for query in ("event=order.confirmed", "status__exact=sent", "channel__exact=email",
                  f"customer={customer.pk}", "customer=none"):
        response = admin_client.get(f"/admin/notifications/notification/?{query}")
        assert response.status_code == 200, query
    response = admin_client.get("/admin/notifications/notification/?event=order.confirmed")
    assert response.context["cl"].result_count == 1


def test_resend_action_sends_the_notification_again(admin_client, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        place_order(customer=customer)
    notification = Notification.objects.get()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/notifications/notification/",
                                     {"action": "resend", "_selected_action": [notification.pk]})
    assert response.status_code == 302
    assert len(mails_to(customer.email)) == 1


def test_outbox_page_shows_the_backlog_and_its_oldest_age(admin_client, customer):
    # given two orders whose outbox rows were never relayed (no commit hooks ran)
    place_order(customer=customer)
    place_order(customer=customer)
    response = admin_client.get("/admin/notifications/outboxmessage/")
    assert response.status_code == 200
    assert "Outbox: 2 unsent, the oldest waiting" in response.content.decode()


def test_webhook_pages_and_replay_action(admin_client, customer, webhook_receiver,
                                         django_capture_on_commit_callbacks):
    WebhookEndpoint.objects.create(url=webhook_receiver.url, secret="s", event_types=["order.placed"])
    with django_capture_on_commit_callbacks(execute=True):
        place_order(customer=customer)
    delivery = WebhookDelivery.objects.get()
    assert admin_client.get("/admin/notifications/webhookendpoint/").status_code == 200
    assert admin_client.get("/admin/notifications/webhookdelivery/").status_code == 200
    assert admin_client.get(f"/admin/notifications/webhookdelivery/{delivery.pk}/change/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/notifications/webhookdelivery/",
                          {"action": "replay", "_selected_action": [delivery.pk]})
    assert len(webhook_receiver.requests) == 2
    assert delivery.attempt_log.count() == 2


def _deliveries(n, endpoint, customer):
    from notifications.models import OutboxMessage

    for _ in range(n):
        place_order(customer=customer)
    for message in OutboxMessage.objects.filter(webhook_deliveries__isnull=True):
        WebhookDelivery.objects.create(outbox=message, endpoint=endpoint, event=message.event, status="failed")


def test_outbox_and_delivery_pages_cost_the_same_queries_for_3_and_30_rows(admin_client, customer):
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/none", secret="s", event_types=["*"])
    pages = ["/admin/notifications/outboxmessage/", "/admin/notifications/webhookdelivery/"]
    _deliveries(3, endpoint, customer)
    few = []
    for page in pages:
        with CaptureQueriesContext(connection) as q:
            assert admin_client.get(page).status_code == 200
        few.append(len(q))
    _deliveries(27, endpoint, customer)
    for page, expected in zip(pages, few, strict=True):
        with CaptureQueriesContext(connection) as q:
            assert admin_client.get(page).status_code == 200
        assert len(q) == expected, page
    assert WebhookDelivery.objects.count() == 30
