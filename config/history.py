"""Audit history (django-simple-history) that writes a row only when a field worth remembering changed.

`ChangeHistory(tracked=[...])` keeps only those fields (and the primary key) in the history table, and a save that
changes none of them writes nothing, with no query: the values an instance was loaded with are remembered when it
is built. The first change of an object that has no history yet first records what it was before (dated when it
was created, where the model knows), so the history always shows "from" and "to".
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from django.db.models import signals
from django.utils import timezone
from simple_history.models import HistoricalRecords

_MISSING = object()


class ChangeHistory(HistoricalRecords):
    def __init__(self, *args, tracked: Sequence[str] | None = None, created_field: str | None = None,
                 record_creation: bool = True, **kwargs):
        self.tracked = tuple(tracked or ())
        self.created_field = created_field
        self.record_creation = record_creation
        super().__init__(*args, **kwargs)

    def finalize(self, sender, **kwargs):
        if self.cls is sender and self.tracked:
            keep = {*self.tracked, sender._meta.pk.name}
            self.excluded_fields = [f.name for f in sender._meta.concrete_fields if f.name not in keep]
        super().finalize(sender, **kwargs)
        if self.cls is sender:
            self._attnames = [f.attname for f in sender._meta.concrete_fields
                              if f.name not in self.excluded_fields and not f.primary_key]
            signals.post_init.connect(self._remember, sender=sender, weak=False)

    def _values(self, instance) -> dict:
        return {name: instance.__dict__.get(name, _MISSING) for name in self._attnames}

    def _remember(self, instance, **kwargs):
        instance.__dict__["_history_loaded"] = self._values(instance)

    def post_save(self, instance, created, using=None, **kwargs):
        if kwargs.get("raw"):
            return
        before = instance.__dict__.get("_history_loaded") or {}
        now = self._values(instance)
        instance.__dict__["_history_loaded"] = now
        if created:
            if self.record_creation:
                super().post_save(instance, created, using=using, **kwargs)
            return
        update_fields = kwargs.get("update_fields")
        written = ({instance._meta.get_field(name).attname for name in update_fields} if update_fields is not None
                   else set(now))
        changed = [name for name, value in now.items()
                   if name in written and value is not _MISSING and before.get(name, _MISSING) is not _MISSING
                   and str(before[name]) != str(value)]
        if not changed:
            return
        manager = getattr(instance, self.manager_name)
        if not manager.exists():  # history began after this object: keep what it was first
            earlier = copy.copy(instance)
            earlier.__dict__.update({k: v for k, v in before.items() if v is not _MISSING})
            earlier._history_date = (getattr(instance, self.created_field, None) if self.created_field else None
                                     ) or timezone.now()
            self.create_historical_record(earlier, "+", using=using)
        super().post_save(instance, created, using=using, **kwargs)
