"""Play carrier tracking events for parcels on the move, through the real webhook, so the demo moves by itself."""

import random
import time
import urllib.error

from django.core.management.base import BaseCommand, CommandError

from shipping.simulation import plan, post


class Command(BaseCommand):
    help = ("Post signed carrier tracking events (pick-up, hub scans, out for delivery, delivered, some "
            "exceptions) for shipments with a label or in transit, over HTTP to the carrier webhook.")

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where Waybill answers.")
        parser.add_argument("--rounds", type=int, default=1, help="Rounds of events; 0 runs until interrupted.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between rounds.")
        parser.add_argument("--limit", type=int, default=50, help="Shipments moved per round at most.")
        parser.add_argument("--exception-rate", type=float, default=0.1,
                            help="Chance of a failed delivery attempt at each delivery (0 to 1).")
        parser.add_argument("--seed", type=int, default=None, help="Repeatable streams.")

    def handle(self, *args, base_url, rounds, interval, limit, exception_rate, seed, **options):
        if not 0 <= exception_rate <= 1:
            raise CommandError("--exception-rate is between 0 and 1.")
        rng = random.Random(seed)
        done = 0
        while rounds == 0 or done < rounds:
            if done:
                time.sleep(interval)
            done += 1
            events = plan(limit=limit, rng=rng, exception_rate=exception_rate)
            sent = failed = 0
            for event in events:
                try:
                    code = post(base_url=base_url, event=event)
                except urllib.error.URLError as err:
                    raise CommandError(f"Cannot reach {base_url}: {err.reason}") from err
                if code in (200, 201):
                    sent += 1
                else:
                    failed += 1
                    self.stderr.write(f"{event.shipment.tracking_number}: HTTP {code}")
                if options["verbosity"] > 1:
                    self.stdout.write(f"{event.shipment.tracking_number} {event.body['status_code']} → {code}")
            self.stdout.write(f"round {done}: {sent} event(s) accepted, {failed} refused")
