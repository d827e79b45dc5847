"""`manage.py outbox_relay`: the outbox relay (notifications.relay), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notifications.relay import relay_until
from notifications.services import outbox_relay


class Command(BaseCommand):
    help = ("Hand new outbox rows to the Celery workers in batches, until stopped (SIGTERM or Ctrl-C). Run one or "
            "more beside the workers when WAYBILL_OUTBOX_RELAY is on (the Procfiles' relay); without one, the sweep "
            "sends the rows every WAYBILL_OUTBOX_SWEEP_SECONDS.")

    def add_arguments(self, parser):
        parser.add_argument("--poll", type=float, default=None,
                            help="Seconds between passes while there is nothing to send "
                                 "(default WAYBILL_OUTBOX_RELAY_POLL_SECONDS).")
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args, poll, once, **options):
        if poll is not None and not poll > 0:  # 0 would query the database in a tight loop
            raise CommandError("--poll is a number of seconds above zero, such as 0.1.")
        if once:
            done = outbox_relay()
            self.stdout.write(f"handed {done.sent} of {done.claimed} outbox row(s) to the workers")
            return
        if not settings.WAYBILL_OUTBOX_RELAY:
            self.stderr.write("WAYBILL_OUTBOX_RELAY is off: transactions publish their own rows, so this relay "
                              "only finds rows whose publish failed.")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("outbox relay started")
        sent = relay_until(stop, poll=poll)
        self.stdout.write(f"outbox relay stopped ({sent} row(s) handed over)")
