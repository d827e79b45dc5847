"""Drills against a real SMTP conversation: a server that hangs, one that says "later" (4xx), one that says
"never" (5xx). A real worker process sends; nothing is lost, nothing is sent twice, no worker is stuck."""

from __future__ import annotations

import pytest

from notifications.models import Notification
from notifications.services import notification_resend
from tests.factories import CustomerFactory, place_order
from tests.notifications.conftest import wait_for

from .conftest import CuttableLink, sweep_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_hanging_mail_server_holds_no_worker_and_loses_nothing(start_worker, smtp_sink, drill_settings,
                                                                 stopwatch):
    # given a mail server that accepts connections and never answers (EMAIL_TIMEOUT is 2 s here, 10 s by default)
    link = CuttableLink(smtp_sink.port).start()
    link.cut(blackhole=True)
    start_worker(EMAIL_URL=f"smtp://127.0.0.1:{link.port}")
    try:
        customers = [CustomerFactory(), CustomerFactory()]
        # when orders are placed
        stopwatch.restart()
        for customer in customers:
            place_order(customer=customer)
        # then each send gives up after the timeout and waits to retry: no worker stays stuck in the conversation
        wait_for(lambda: Notification.objects.filter(status="retrying", last_error__icontains="timed out").count()
                 == 2, timeout=15)
        gave_up_in = stopwatch.seconds
        assert gave_up_in < 2 * 2 + 3  # two timeouts at most per email, and the pool sends two at once
        # when the server answers again, the retries deliver every email once
        link.restore()
        stopwatch.restart()
        sweep_until(lambda: Notification.objects.filter(status="sent").count() == 2, timeout=30)
        for customer in customers:
            assert len(smtp_sink.message_ids(customer.email)) == 1
        assert all(n.attempts >= 2 for n in Notification.objects.all())
        print(f"\nDRILL SMTP hanging: each send gave up within {gave_up_in} s; delivered {stopwatch.seconds} s after "
              "the server came back")
    finally:
        link.close()


def test_a_mail_server_that_says_later_gets_the_email_once_it_takes_it(start_worker, smtp_sink, drill_settings):
    # given a mail server that answers 451 (try again later) twice
    smtp_sink.mode, smtp_sink.fail_times = "tempfail", 2
    start_worker()
    customer = CustomerFactory()
    # when an order is placed, then the worker retries with backoff until the server takes it: once
    place_order(customer=customer)
    sweep_until(lambda: Notification.objects.filter(status="sent").exists(), timeout=30)
    assert len(smtp_sink.message_ids(customer.email)) == 1
    assert Notification.objects.get().attempts == 3
    assert smtp_sink.answers.count("451 4.3.0 Mailbox temporarily unavailable, try again later") == 2


def test_a_mail_server_that_says_never_fails_the_email_at_once_and_staff_can_send_it_again(
        start_worker, smtp_sink, drill_settings):
    # given a mail server that refuses the mailbox for good (550)
    smtp_sink.mode = "permfail"
    start_worker()
    customer = CustomerFactory()
    place_order(customer=customer)
    # then the email fails at the first answer, with the server's words, instead of retrying for an hour
    notification = wait_for(lambda: Notification.objects.filter(status="failed").first(), timeout=15)
    assert notification.attempts == 1
    assert "550" in notification.last_error and "No such user here" in notification.last_error
    # and once the address is fixed on the server's side, staff send it again from the admin: it arrives once
    smtp_sink.mode = "accept"
    assert notification_resend(notification_ids=[notification.pk]) == 1
    wait_for(lambda: Notification.objects.filter(status="sent").exists(), timeout=15)
    assert len(smtp_sink.message_ids(customer.email)) == 1
