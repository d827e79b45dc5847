"""Filter pieces every app's API shares: values are validated before they reach a query."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime in UTC. Python accepts offsets up to ±23:59 but PostgreSQL only ±15:59, and an offset
    can carry a moment past year 1 or 9999: normalised here, such a value is either a plain UTC moment or refused
    (ValidationError) instead of failing in the database."""
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ValidationError("The date and time are out of range.", code="out_of_range") from None


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        return to_utc(parsed) if parsed is not None else None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 (`2025-03-01T09:00:00+01:00`), any valid offset, compared in UTC; out of range is a 400."""

    field_class = UtcIsoDateTimeField
