"""Drills with a real worker process: killed mid-send, and Redis stopped with tasks in flight.

Figures printed with `-s` (DRILL lines) are the ones docs/operations.md quotes.
"""

from __future__ import annotations

import pytest

from notifications.models import Notification
from tests.factories import CustomerFactory, ProductFactory, place_order
from tests.notifications.conftest import wait_for

from .conftest import sweep_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def all_sent(count: int):
    return lambda: Notification.objects.filter(status="sent").count() == count


@pytest.mark.parametrize("server_took_it", [False, True], ids=["before-the-server-took-it",
                                                                 "after-the-server-took-it"])
def test_a_worker_killed_mid_send_is_recovered_in_seconds(server_took_it, start_worker, smtp_sink, drill_settings,
                                                          stopwatch):
    customer = CustomerFactory()
    # given a worker in the middle of an SMTP conversation: the message is written, the server has not answered
    smtp_sink.mode = "accept-hold" if server_took_it else "hold"
    worker = start_worker()
    order = place_order(customer=customer)
    wait_for(lambda: smtp_sink.holding == 1)
    assert Notification.objects.get().status == "sending"  # the attempt was recorded before sending
    # when the worker is killed (SIGKILL: no handler, no cleanup runs) and a supervisor starts a new one
    worker.kill()
    stopwatch.restart()
    wait_for(lambda: smtp_sink.holding == 0)  # the server saw the connection drop
    smtp_sink.mode = "accept"
    start_worker()
    # then the sweep finds the claim of the dead worker, and the email is sent again
    sweep_until(all_sent(1), timeout=30)
    recovered_in = stopwatch.seconds
    notification = Notification.objects.get()
    assert notification.attempts == 2
    ids = smtp_sink.message_ids(customer.email)
    subjects = {str(m["Subject"]) for m in smtp_sink.to(customer.email)}
    assert subjects == {f"We received your order {order.number}"}
    if server_took_it:
        # the server had taken it: two copies of one message (same Message-ID), which clients show once
        assert len(ids) == 2 and len(set(ids)) == 1
    else:
        assert len(ids) == 1
    # within the claim timeout (6 s here, 60 s by default) plus the resend delay and a sweep, not ten minutes
    assert recovered_in < 20
    print(f"\nDRILL worker SIGKILL mid-send ({'after' if server_took_it else 'before'} the server took it): "
          f"sent again {recovered_in} s after the kill")


def test_the_worker_survives_redis_stopping_with_tasks_in_flight(start_worker, drill_broker, smtp_sink,
                                                                 drill_settings, stopwatch):
    customer = CustomerFactory()
    product = ProductFactory(stock=100)
    # given a worker busy with emails the SMTP server is slow to take (they stay unacknowledged in Redis)
    smtp_sink.mode = "hold"
    worker = start_worker()
    before = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(4)]
    wait_for(lambda: smtp_sink.holding == 2)  # both pool processes are mid-send, two tasks wait in the queue
    # when Redis stops, and orders keep coming while it is down
    drill_broker.stop()
    stopwatch.restart()
    during = [place_order(customer=customer, lines=[(product, 1)]) for _ in range(2)]
    smtp_sink.mode = "accept"  # the server answers the held conversations: nothing was delivered yet
    wait_for(lambda: smtp_sink.holding == 0 or not worker.alive(), timeout=15)
    assert worker.alive(), worker.log.read_text()[-3000:]
    # and Redis comes back
    drill_broker.start()
    # then the worker is still the same process, reconnects, and with the sweep every order is confirmed once
    sweep_until(all_sent(6), timeout=60)
    assert worker.alive(), worker.log.read_text()[-3000:]
    assert "Unrecoverable error" not in worker.log.read_text()
    ids = smtp_sink.message_ids(customer.email)
    assert len(ids) == len(set(ids)) == 6
    subjects = sorted(str(m["Subject"]) for m in smtp_sink.to(customer.email))
    assert subjects == sorted(f"We received your order {o.number}" for o in [*before, *during])
    print(f"\nDRILL Redis stopped with 4 tasks in flight: all 6 confirmations sent once, "
          f"{stopwatch.seconds} s after Redis stopped")
