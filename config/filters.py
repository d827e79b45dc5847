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


_BOOLEAN_VALUES = {"true", "false", "True", "False", "1", "0"}


class FilterSet(django_filters.FilterSet):
    """Every app's API filters: a value that says nothing is refused with a 400 naming the filter, instead of being
    ignored (django-filter's default, which answers an unfiltered list): an empty value for a filter that is not
    text, a single-valued filter given twice, a yes/no filter given neither."""

    def is_valid(self) -> bool:
        if not super().is_valid():
            return False
        for name, filter_ in self.filters.items():
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if not values:
                continue
            many = isinstance(filter_, django_filters.MultipleChoiceFilter)
            if len(values) > 1 and not many:
                self.form.add_error(name, "Give this filter once.")
            elif "" in values and not isinstance(filter_, django_filters.CharFilter):
                self.form.add_error(name, "Give a value, or leave the filter out.")
            elif isinstance(filter_, django_filters.BooleanFilter) and not set(values) <= _BOOLEAN_VALUES:
                self.form.add_error(name, "Give true or false.")
        return self.form.is_valid()
