"""The outbox relay beside the order scenarios, as production runs it (`manage.py outbox_relay`, WAYBILL_OUTBOX_RELAY
on in the bench settings as in production's): placements hand nothing to the broker themselves, so the relay's
CPU belongs to what an order costs, and every figure says how long the relay took to catch up after its run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from django.conf import settings

from .runtime import BENCH_DB, PYTHON, RESULTS, ROOT, env_for


class Relay:
    def __init__(self):
        self.process: subprocess.Popen | None = None

    def start(self) -> Relay:
        if settings.WAYBILL_OUTBOX_RELAY and self.process is None:
            RESULTS.mkdir(parents=True, exist_ok=True)
            log = RESULTS / "relay.log"
            self.process = subprocess.Popen([PYTHON, "manage.py", "outbox_relay"], cwd=ROOT, env=env_for(BENCH_DB),
                                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
            # its start-up (Django's setup) is no order's cost: the figures begin once it works
            deadline = time.monotonic() + 60
            while "outbox relay started" not in log.read_text():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the outbox relay did not start: {log.read_text()[-1000:]}")
                time.sleep(0.05)
        return self

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None and self.process.poll() is None else []

    def caught_up(self, timeout: float = 60.0) -> float | None:
        """Seconds until no outbox row waits for the relay any more (None without a relay: rows go after commit)."""
        from notifications.models import OutboxMessage

        if self.process is None:
            return None
        started = time.monotonic()
        waiting = OutboxMessage.objects.filter(dispatched_at__isnull=True, processed_at__isnull=True)
        while waiting.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the outbox relay exited with status {self.process.returncode} "
                                   f"(bench/results/relay.log)")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the outbox relay left {waiting.count()} rows waiting after {timeout} s")
            time.sleep(0.05)
        return round(time.monotonic() - started, 2)

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
            self.process = None
