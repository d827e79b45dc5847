"""Emails for orders, staff alerts and the outbox (embedded mode: tasks run in-process after commit)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from notifications import registry
from notifications.errors import UnknownEvent
from notifications.models import Notification, OutboxMessage
from notifications.selectors import notification_list_for_customer, outbox_backlog
from notifications.services import notification_emit, notification_preference_set, notification_resend, outbox_sweep
from notifications.tasks import notification_send_task, outbox_process_task
from orders.services import order_add_note, order_transition
from tests.factories import CustomerFactory, ProductFactory, place_order

from .conftest import mails_to


class FailingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server refused the connection")


def move(order, *names, reason=""):
    for name in names:
        order = order_transition(order=order, name=name, reason=reason, check_permission=False)
    return order


def html_of(message) -> str:
    return next(content for content, mimetype in message.alternatives if mimetype == "text/html")


def test_placing_an_order_emails_the_customer_once(customer, django_capture_on_commit_callbacks):
    # given a product in stock
    product = ProductFactory(name="Brass compass", stock=10)
    # when the customer places an order
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer, lines=[(product, 2)])
    # then one confirmation-of-receipt email, text and HTML, names the order and its lines
    (message,) = mails_to(customer.email)
    assert message.subject == f"We received your order {order.number}"
    assert order.number in message.body and "2 × Brass compass" in message.body
    assert f"{order.total} {order.currency}" in message.body
    assert "Brass compass" in html_of(message) and order.number in html_of(message)
    assert message.extra_headers["X-Waybill-Event"] == "order.placed"
    notification = Notification.objects.get()
    assert (notification.status, notification.customer, notification.attempts) == ("sent", customer, 1)


def test_moving_an_order_sends_exactly_the_expected_emails(customer, django_capture_on_commit_callbacks):
    # given a placed order
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer)
        # when it goes all the way to delivered
        move(order, "confirm", "start_processing", "pack", "ship", "deliver")
    # then the customer hears about placed, confirmed, shipped and delivered, once each, in that order
    subjects = [m.subject for m in mails_to(customer.email)]
    assert subjects == [
        f"We received your order {order.number}",
        f"Your order {order.number} is confirmed",
        f"Your order {order.number} has shipped",
        f"Your order {order.number} was delivered",
    ]
    # and the webhook-only steps (processing, packed) are in the outbox without an email
    assert set(OutboxMessage.objects.values_list("event", flat=True)) == {
        "order.placed", "order.confirmed", "order.processing", "order.packed", "order.shipped", "order.delivered",
    }


def test_cancellation_email_gives_the_reason(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer)
        move(order, "cancel", reason="The item was damaged in the warehouse & cannot be replaced.")
    message = mails_to(customer.email)[-1]
    assert message.subject == f"Your order {order.number} was cancelled"
    assert "Reason: The item was damaged in the warehouse & cannot be replaced." in message.body
    assert "damaged in the warehouse &amp; cannot" in html_of(message)


def test_customer_who_opts_out_still_gets_essential_emails(customer, django_capture_on_commit_callbacks):
    # given a customer who turned off non-essential email
    notification_preference_set(user=customer, non_essential_email=False)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer)
        # when the order is held (a delay: non-essential) and then confirmed
        move(order, "hold", reason="Address check")
        move(order, "release", "confirm")
    # then only the placement and confirmation arrive; the hold is logged as skipped
    assert [m.extra_headers["X-Waybill-Event"] for m in mails_to(customer.email)] == ["order.placed",
                                                                                     "order.confirmed"]
    assert Notification.objects.get(event="order.on_hold").status == "skipped"


def test_hold_tells_the_customer_about_the_delay(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer)
        move(order, "hold", reason="Waiting for a payment check")
    message = mails_to(customer.email)[-1]
    assert message.subject == f"Your order {order.number} is delayed"
    assert "Reason: Waiting for a payment check" in message.body


def test_internal_notes_never_reach_the_customer(customer, staff_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer)
        order_add_note(order=order, author=staff_user, text="Customer sounded angry on the phone", internal=True)
    assert len(mails_to(customer.email)) == 1
    assert not OutboxMessage.objects.filter(event="order.note_added").exists()
    # while a note meant for the customer is sent
    with django_capture_on_commit_callbacks(execute=True):
        order_add_note(order=order, author=staff_user, text="We added a free gift.", internal=False)
    assert "We added a free gift." in mails_to(customer.email)[-1].body


def test_shipment_email_carries_carrier_tracking_number_and_link(postgres, customer,
                                                                  django_capture_on_commit_callbacks):
    # given a packed order
    with django_capture_on_commit_callbacks(execute=True):
        order = move(place_order(customer=customer), "confirm", "start_processing", "pack")
    mail.outbox.clear()
    # when shipping ships it and emits shipment.shipped in the same transaction
    tracking = {"carrier_name": "DHL Express", "tracking_number": "JD014600006281",
                "tracking_url": "https://tracking.example.com/JD014600006281?lang=en&src=waybill"}
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        move(order, "ship")
        notification_emit(event="shipment.shipped", subject=order, idempotency_key=f"shipment:1:{order.number}",
                          payload={"order_number": order.number, "customer_name": "Ada", **tracking})
    # then the customer gets one shipped email (the plain order.shipped one is superseded), with tracking
    (message,) = mails_to(customer.email)
    assert message.subject == f"Your order {order.number} has shipped with DHL Express"
    assert "Carrier: DHL Express" in message.body
    assert "Tracking number: JD014600006281" in message.body
    assert f"Track your parcel: {tracking['tracking_url']}" in message.body
    assert 'href="https://tracking.example.com/JD014600006281?lang=en&amp;src=waybill"' in html_of(message)
    assert OutboxMessage.objects.get(event="order.shipped").suppressed_for_customer


def test_out_for_delivery_email_has_the_tracking_link(customer, django_capture_on_commit_callbacks):
    order = place_order(customer=customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notification_emit(event="shipment.out_for_delivery", subject=order, idempotency_key="ofd:1",
                          payload={"order_number": order.number, "carrier_name": "UPS", "tracking_number": "1Z999",
                                   "tracking_url": "https://ups.example.com/1Z999"})
    (message,) = mails_to(customer.email)
    assert message.subject == f"Your order {order.number} is out for delivery"
    assert "Track your parcel: https://ups.example.com/1Z999" in message.body


def test_a_rolled_back_change_sends_nothing(customer, django_capture_on_commit_callbacks):
    product = ProductFactory(stock=10)
    # when placing an order fails after its outbox row was written
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        place_order(customer=customer, lines=[(product, 1)])
        raise RuntimeError("payment provider said no")
    # then no email and no outbox row survive
    assert mail.outbox == []
    assert not OutboxMessage.objects.exists()


def test_low_stock_alert_reaches_every_staff_address(settings, customer, django_capture_on_commit_callbacks):
    # given two staff alert addresses and a product just above its threshold of 2
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com", "buyer@example.com"]
    product = ProductFactory(sku="LAMP-01", name="Desk lamp", stock=3)
    # when an order brings it down to 2
    with django_capture_on_commit_callbacks(execute=True):
        place_order(customer=customer, lines=[(product, 1)])
    # then both staff addresses get the alert, and it is logged without a customer
    for address in ("ops@example.com", "buyer@example.com"):
        (alert,) = mails_to(address)
        assert alert.subject == "[Waybill] Low stock: LAMP-01 (2 left)"
        assert "Desk lamp (LAMP-01) is down to 2 available unit(s); the threshold is 2." in alert.body
    staff_rows = Notification.objects.filter(event="stock.low")
    assert {(n.audience, n.customer_id) for n in staff_rows} == {("staff", None)}
    assert not notification_list_for_customer(customer=customer).filter(event="stock.low").exists()


def test_staff_alert_hook_for_later_alerts(settings, customer, django_capture_on_commit_callbacks):
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    order = place_order(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        notification_emit(event="shipment.scan_overdue", subject=order, idempotency_key=f"scan:{order.number}",
                          payload={"title": f"No carrier scan: {order.number}", "message": "Not shipped in 48 h.",
                                   "order_number": order.number})
    (alert,) = mails_to("ops@example.com")
    assert alert.subject == f"[Waybill] No carrier scan: {order.number}"
    assert "Not shipped in 48 h." in alert.body
    assert mails_to(customer.email) == []


def test_a_staff_alert_goes_to_the_addresses_its_emitter_chose(settings, customer,
                                                                django_capture_on_commit_callbacks):
    # given the staff alert list, and alerts raised for chosen people (a time-in-state rule's), or for nobody
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    order = place_order(customer=customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        for key, chosen in (("leads", ["lea@example.com", "sam@example.com", "lea@example.com"]), ("nobody", [])):
            notification_emit(event="shipment.scan_overdue", subject=order, idempotency_key=key,
                              payload={"title": key, "message": "m"}, staff_recipients=chosen)
    # then each chosen address has it once, the list has neither, and the one for nobody is only recorded
    assert [m.subject for m in mails_to("lea@example.com")] == ["[Waybill] leads"]
    assert len(mails_to("sam@example.com")) == 1 and mails_to("ops@example.com") == []
    assert OutboxMessage.objects.get(idempotency_key="leads").staff_recipients == ["lea@example.com",
                                                                                  "sam@example.com"]
    assert not Notification.objects.filter(outbox__idempotency_key="nobody").exists()


def test_a_redelivered_task_sends_nothing_more(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        place_order(customer=customer)
    message, notification = OutboxMessage.objects.get(), Notification.objects.get()
    # when both tasks run again for the same rows
    outbox_process_task.apply(args=[message.pk])
    notification_send_task.apply(args=[notification.pk])
    # then the customer still has one email
    assert len(mails_to(customer.email)) == 1
    assert Notification.objects.get().attempts == 1


def test_same_idempotency_key_records_the_event_once(customer, django_capture_on_commit_callbacks):
    order = place_order(customer=customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = notification_emit(event="order.confirmed", subject=order, payload={"order_number": order.number},
                                  idempotency_key="confirm-once")
        second = notification_emit(event="order.confirmed", subject=order, payload={"order_number": order.number},
                                   idempotency_key="confirm-once")
    assert first.pk == second.pk
    assert len(mails_to(customer.email)) == 1


def test_smtp_failure_is_retried_then_marked_failed_and_can_be_resent(settings, customer,
                                                                       django_capture_on_commit_callbacks):
    # given an SMTP server that refuses every connection, and three attempts allowed
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    settings.WAYBILL_NOTIFY_MAX_ATTEMPTS = 3
    with django_capture_on_commit_callbacks(execute=True):
        place_order(customer=customer)
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("retrying", 1)
    assert notification.next_attempt_at is not None
    # when the retries run out
    notification_send_task.apply(args=[notification.pk])
    notification_send_task.apply(args=[notification.pk])
    # then it is failed, with the error
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert "SMTP server refused the connection" in notification.last_error
    # and once SMTP is back, staff resend it
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_resend(notification_ids=[notification.pk]) == 1
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert len(mails_to(customer.email)) == 1


def test_sweep_sends_what_the_fast_path_left_behind(customer, settings):
    # given orders committed but never handed to the workers (the process died right after commit)
    place_order(customer=customer)
    place_order(customer=customer)
    assert outbox_backlog()["count"] == 2 and mail.outbox == []
    # then a sweep leaves them to the fast path that took them at commit, for the redispatch delay
    assert outbox_sweep(grace_seconds=0)["outbox"] == 0
    # when the redispatch delay has passed and the periodic sweep runs
    settings.WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS = 0
    counts = outbox_sweep(grace_seconds=0)
    # then both confirmations go out, and a second sweep finds nothing
    assert counts["outbox"] == 2
    assert len(mails_to(customer.email)) == 2
    assert outbox_sweep(grace_seconds=0) == {"outbox": 0, "notifications": 0, "webhooks": 0, "uncertain": 0}
    assert outbox_backlog() == {"count": 0, "oldest_created_at": None, "oldest_age_seconds": None}


def test_notifications_are_listed_per_customer(db, django_capture_on_commit_callbacks):
    ada, bob = CustomerFactory(), CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        place_order(customer=ada)
        place_order(customer=bob)
        place_order(customer=bob)
    assert notification_list_for_customer(customer=ada).count() == 1
    assert {n.recipient for n in notification_list_for_customer(customer=bob)} == {bob.email}


def test_unknown_events_are_refused(db):
    with pytest.raises(UnknownEvent):
        notification_emit(event="order.teleported", payload={}, idempotency_key="x")


def test_a_new_event_needs_only_a_name_and_a_template(customer, django_capture_on_commit_callbacks):
    # given another app declares an event (reusing an existing template here)
    registry.register_event("warranty.registered", template="order.confirmed", essential=False)
    try:
        order = place_order(customer=customer)
        mail.outbox.clear()
        # when it emits it
        with django_capture_on_commit_callbacks(execute=True):
            notification_emit(event="warranty.registered", subject=order, payload={"order_number": order.number},
                              idempotency_key="warranty-1")
        # then the customer gets the email through the same outbox
        (message,) = mails_to(customer.email)
        assert message.extra_headers["X-Waybill-Event"] == "warranty.registered"
    finally:
        registry._events.pop("warranty.registered")


def test_delivery_exception_alerts_staff_with_a_full_link(settings, customer, django_capture_on_commit_callbacks):
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    settings.WAYBILL_SITE_URL = "https://backoffice.example.com"
    order = place_order(customer=customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notification_emit(event="shipment.exception_alert", subject=order, idempotency_key="exception:1",
                          payload={"title": f"Delivery exception on {order.number}", "message": "Address not found.",
                                   "order_number": order.number, "link": "/admin/shipping/shipment/1/change/"})
    (alert,) = mails_to("ops@example.com")
    assert alert.subject == f"[Waybill] Delivery exception on {order.number}"
    assert "Open: https://backoffice.example.com/admin/shipping/shipment/1/change/" in alert.body
    assert mails_to(customer.email) == []


@pytest.mark.django_db(transaction=True)
def test_sweep_skips_rows_another_sweep_holds(postgres, customer):
    import threading

    from django.db import connections

    from config.celery import app

    from .conftest import CLOSED_BROKER, use_broker

    # given two outbox rows the fast path could not relay (broker down), one locked by another sweep
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    use_broker(CLOSED_BROKER)
    try:
        place_order(customer=customer)
        place_order(customer=customer)
    finally:
        use_broker(previous[0], eager=previous[1])
    held, other = OutboxMessage.objects.order_by("pk")
    locked, release = threading.Event(), threading.Event()

    def other_sweep():
        with transaction.atomic():
            list(OutboxMessage.objects.select_for_update().filter(pk=held.pk))
            locked.set()
            release.wait(5)
        connections.close_all()

    thread = threading.Thread(target=other_sweep)
    thread.start()
    try:
        assert locked.wait(5)
        # when this sweep runs, it takes only the free row, without waiting
        counts = outbox_sweep(grace_seconds=0)
    finally:
        release.set()
        thread.join()
    # then only that row's confirmation went out; the held one is left for its holder or the next sweep
    assert counts["outbox"] == 1
    assert [m.subject for m in mails_to(customer.email)] == [f"We received your order {other.subject_label}"]
    assert outbox_sweep(grace_seconds=0)["outbox"] == 1
    assert len(mails_to(customer.email)) == 2


def test_sweep_command_relays_the_backlog(customer, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS = 0  # the fast path that took the row died long ago
    place_order(customer=customer)
    out = StringIO()
    call_command("notifications_sweep", "--grace", "0", stdout=out)
    assert "relayed 1 outbox row(s)" in out.getvalue() and "0 still waiting" in out.getvalue()
    assert len(mails_to(customer.email)) == 1
