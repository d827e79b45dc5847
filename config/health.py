"""Health checks of our own (django-health-check 4): the Celery broker answers, and every migration is applied."""

from __future__ import annotations

import dataclasses
import datetime

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable


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
