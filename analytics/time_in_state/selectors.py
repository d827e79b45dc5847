"""Reads for the time-in-state rules: the objects a rule finds late, where open breaches' objects are now, who a
rule alerts, and the open breaches for the staff pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from support import calendar
from support.models import BusinessCalendar

from ..models import Breach, TimeInStateRule
from .states import State


@dataclass(frozen=True)
class Clock:
    """A rule's arithmetic at one instant: calendar hours, or the working hours of a support calendar."""

    now: datetime
    max_minutes: float | None  # None: the object's own due time decides
    hours: calendar.Hours | None = None  # None: every hour counts

    def threshold(self) -> datetime:
        """Objects that entered the state at or before this instant are late now."""
        if self.hours is None:
            return self.now - timedelta(minutes=self.max_minutes)
        return calendar.subtract_business_minutes(self.hours, self.now, self.max_minutes)

    def due(self, entered_at: datetime) -> datetime:
        if self.hours is None:
            return entered_at + timedelta(minutes=self.max_minutes)
        return calendar.add_business_minutes(self.hours, entered_at, self.max_minutes)

    def waited_hours(self, entered_at: datetime) -> int:
        if self.hours is None:
            return int((self.now - entered_at).total_seconds() // 3600)
        return int(calendar.business_minutes_between(self.hours, entered_at, self.now) // 60)


def rule_clock(*, rule: TimeInStateRule, now: datetime) -> Clock:
    if rule.uses_due_time:
        return Clock(now=now, max_minutes=None)
    minutes = float(rule.max_age_hours) * 60
    if not rule.business_hours:
        return Clock(now=now, max_minutes=minutes)
    cal = rule.calendar or BusinessCalendar.objects.filter(is_default=True).first()
    # without any calendar every hour is a working hour (as the SLA clocks do)
    return Clock(now=now, max_minutes=minutes, hours=cal.hours() if cal else None)


def breach_candidates(*, rule: TimeInStateRule, state: State, clock: Clock) -> QuerySet:
    """The objects in the rule's state past their maximum age (or their own due time) that no breach of the rule
    covers yet, annotated with `state_entered_at`; the oldest first.

    One query: the status and `not_before` (or due time) columns narrow it on an index before the entry is computed
    for what is left; a breach is looked up by its unique (rule, object, entry) and (rule, open object) indexes."""
    late = state.objects().annotate(state_entered_at=state.entered())
    if rule.uses_due_time:
        # the entry is computed for the batch only (the states with a due time always have one)
        late = late.filter(state.due.overdue(clock.now)).order_by(state.due.field, "pk")
    else:
        threshold = clock.threshold()
        late = (late.filter(**{f"{state.not_before}__lte": threshold}, state_entered_at__lte=threshold)
                .order_by(state.not_before, "pk"))
    same_entry = Breach.objects.filter(rule=rule, object_id=OuterRef("pk"), entered_at=OuterRef("state_entered_at"))
    still_open = Breach.objects.filter(rule=rule, object_id=OuterRef("pk"), closed_at__isnull=True)
    return late.exclude(Exists(same_entry)).exclude(Exists(still_open)).select_related(*state.related)


def state_entries(*, state: State, object_ids) -> dict[int, datetime]:
    """Object id → when it entered the state, for those of `object_ids` still in it."""
    return dict(state.objects().filter(pk__in=list(object_ids)).annotate(state_entered_at=state.entered())
                .values_list("pk", "state_entered_at"))


def rule_recipients(*, rule: TimeInStateRule) -> list[str] | None:
    """The addresses a rule alerts; None for the staff alert list alone (the outbox reads it when it sends)."""
    if rule.notify_group_id is None and not rule.notify_users.exists():
        return None if rule.notify_staff_list else []
    chosen = Q(pk__in=rule.notify_users.values("pk"))
    if rule.notify_group_id:
        chosen |= Q(groups=rule.notify_group_id)
    people = sorted(set(get_user_model().objects.filter(chosen, is_active=True).exclude(email="")
                        .values_list("email", flat=True)))
    addresses = list(settings.WAYBILL_STAFF_ALERT_EMAILS) if rule.notify_staff_list else []
    return list(dict.fromkeys([*addresses, *people]))


def breach_list_open(*, limit: int | None = None) -> QuerySet[Breach]:
    """The open breaches of active rules, the longest overdue first."""
    qs = (Breach.objects.filter(closed_at__isnull=True, rule__active=True).select_related("rule")
          .order_by("due_at", "id"))
    return qs[:limit] if limit else qs

