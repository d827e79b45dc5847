from django.core.management.base import BaseCommand

from notifications.selectors import outbox_backlog
from notifications.services import outbox_sweep


class Command(BaseCommand):
    help = ("Relay outbox rows, notifications and webhook deliveries left behind (what Celery beat runs every "
            "WAYBILL_OUTBOX_SWEEP_SECONDS). Useful without beat, e.g. in the embedded demo after a crash.")

    def add_arguments(self, parser):
        parser.add_argument("--grace", type=float, default=5.0, help="Leave rows younger than this (seconds).")

    def handle(self, *args, grace, **options):
        counts = outbox_sweep(grace_seconds=grace)
        backlog = outbox_backlog()
        self.stdout.write(f"relayed {counts['outbox']} outbox row(s), {counts['notifications']} notification(s), "
                          f"{counts['webhooks']} webhook deliver(ies); {backlog['count']} still waiting")
