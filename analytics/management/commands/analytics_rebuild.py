"""Rebuild the dashboard's rollup tables from scratch (after importing history, or to check the incremental
refresh: the rows must come out the same)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from analytics.rollups import ROLLUP_MODELS, available, rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild the analytics rollup tables from every order, return, refund and parcel."

    def handle(self, *args, **options):
        if not available():
            self.stdout.write("The analytics rollups need PostgreSQL: nothing to do on this database.")
            return
        run = rollups_rebuild()
        if run.kind != "rebuild":
            raise CommandError(f"Not rebuilt: {run.reason}.")
        with connection.cursor() as cursor:  # fresh statistics for the planner (outside the rebuild's transaction)
            for model in ROLLUP_MODELS:
                cursor.execute(f"ANALYZE {model._meta.db_table}")
        self.stdout.write(f"Rebuilt the analytics rollups: {run.orders:,} orders over {run.days:,} days in "
                          f"{run.seconds:.1f} s.")
