"""Health checks of our own (django-health-check 4): the Celery broker answers, every migration is applied, and
each read replica is close behind the primary (a warning only: reads go to the primary meanwhile)."""

from __future__ import annotations

import dataclasses
import datetime

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning


@dataclasses.dataclass
class CeleryBroker(HealthCheck):
    """A connection to the Celery broker (Redis in production) opens within the timeout: tasks can be queued."""

    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=2), repr=False)
    url: str | None = dataclasses.field(default=None, repr=False)  # default: the app's broker

    def run(self) -> None:
        from config.celery import app

        try:
            with app.connection_for_write(url=self.url) as connection:
                connection.ensure_connection(max_retries=1, timeout=self.timeout.total_seconds())
                connection.default_channel  # noqa: B018 - opening the channel talks to the broker
        except Exception as exc:  # noqa: BLE001 - kombu raises transport-specific errors
            raise ServiceUnavailable(f"Celery broker unreachable: {type(exc).__name__}") from exc


@dataclasses.dataclass
class MigrationsApplied(HealthCheck):
    """Every migration the code has is applied to the database (a deploy that skipped `migrate` is unhealthy)."""

    alias: str = "default"

    def run(self) -> None:
        connection = connections[self.alias]
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            raise ServiceUnavailable("Database unavailable") from exc
        finally:
            connection.close()
        if pending:
            names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
            raise ServiceUnavailable(f"{len(pending)} unapplied migration(s): {names}")


@dataclasses.dataclass
class ReplicaLag(HealthCheck):
    """A read replica answers, streams from the primary and is at most WAYBILL_REPLICA_MAX_LAG_SECONDS behind.
    Otherwise a ServiceWarning: the site still works (reads go to the primary), so /health/ stays 200."""

    alias: str = "replica1"

    def run(self) -> None:
        from config.replicas import record_status, replica_measure

        try:
            status = record_status(replica_measure(self.alias))  # what the router knows is refreshed too
        finally:
            connections[self.alias].close()
        if status.problem:
            raise ServiceWarning(f"{self.alias} {status.problem}; reads go to the primary")


def warnings_do_not_fail(response, results):
    """django-health-check 4.8 answers 500 for any check that raised, warnings included: a site whose only
    trouble is a warning (a replica behind) is healthy, 200, with the warnings in the body."""
    if response.status_code == 500 and all(r.error is None or isinstance(r.error, ServiceWarning) for r in results):
        response.status_code = 200
    return response
