"""The send-then-mark gap: a worker lost after the mail server took an email but before the row said so.

The attempt is recorded before sending; a claim left behind becomes "uncertain" within
WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS and is sent again only after WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS, with
the same Message-ID. (tests/drills/ does the same with a real worker killed by SIGKILL.)
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from notifications.models import Notification
from notifications.services import message_id, outbox_sweep
from notifications.tasks import notification_send_task
from tests.factories import place_order

from .conftest import mails_to


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even an `except Exception`."""


class AcceptThenDie(BaseEmailBackend):
    """The mail server accepts the message, then the worker process dies before it records the outcome."""

    def send_messages(self, messages):
        mail.outbox.extend(copy.copy(m) for m in messages)
        raise WorkerKilled


@pytest.fixture
def lost_mid_send(settings, customer, django_capture_on_commit_callbacks):
    """An order whose confirmation the mail server accepted while its worker died: the row stays "sending"."""
    settings.EMAIL_BACKEND = f"{__name__}.AcceptThenDie"
    with pytest.raises(WorkerKilled), django_capture_on_commit_callbacks(execute=True):
        place_order(customer=customer)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("sending", 1)  # the attempt was recorded first
    return notification


def test_every_email_carries_a_message_id_made_from_its_notification(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        place_order(customer=customer)
    (message,) = mails_to(customer.email)
    notification = Notification.objects.get()
    expected = f"<notification-{notification.pk}.{notification.outbox.uuid}@waybill.localhost>"
    assert message_id(notification) == expected
    assert message.message()["Message-ID"] == expected


def test_a_claim_left_by_a_lost_worker_is_uncertain_within_seconds_and_resent_once_with_the_same_message_id(
        settings, customer, lost_mid_send):
    settings.WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS = 30
    settings.WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS = 60
    (first,) = mails_to(customer.email)
    claimed_at = lost_mid_send.claimed_at
    # while the claim is younger than the claim timeout, the sweep leaves it alone (its worker may be alive)
    with time_machine.travel(claimed_at + timedelta(seconds=20)):
        assert outbox_sweep(grace_seconds=0)["uncertain"] == 0
    # once it is older, the sweep marks it uncertain: seconds, not ten minutes
    with time_machine.travel(claimed_at + timedelta(seconds=31)):
        assert outbox_sweep(grace_seconds=0)["uncertain"] == 1
    notification = Notification.objects.get()
    assert notification.status == "uncertain"
    assert "may have accepted it" in notification.last_error
    # a redelivered task (the broker gives the lost worker's message back) and sweeps before the resend age send
    # nothing: the customer may already have it
    with time_machine.travel(claimed_at + timedelta(seconds=80)):
        assert notification_send_task.apply(args=[notification.pk]).get() == "noop"
        assert outbox_sweep(grace_seconds=0)["notifications"] == 0
    assert len(mails_to(customer.email)) == 1
    # after the resend age it goes again, once, as the same message
    with time_machine.travel(claimed_at + timedelta(seconds=92)):
        assert outbox_sweep(grace_seconds=0)["notifications"] == 1
        assert outbox_sweep(grace_seconds=0)["notifications"] == 0
    first_copy, second_copy = mails_to(customer.email)
    assert first_copy is first
    assert second_copy.message()["Message-ID"] == first.message()["Message-ID"]
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)


def test_staff_resend_an_uncertain_email_at_once(customer, lost_mid_send, django_capture_on_commit_callbacks):
    from notifications.services import notification_mark_uncertain, notification_resend

    assert notification_mark_uncertain(now=timezone.now() + timedelta(hours=1)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_resend(notification_ids=[lost_mid_send.pk]) == 1
    assert Notification.objects.get().status == "sent"
    assert len({m.message()["Message-ID"] for m in mails_to(customer.email)}) == 1
