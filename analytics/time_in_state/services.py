"""Evaluating the time-in-state rules: close the breaches whose object moved on, open one breach (and raise one
staff alert, through the outbox, in the same transaction) per object found late.

    rules_evaluate()                 every active rule (the periodic task)
    rule_evaluate(rule=rule)         one rule

Exactly one alert per breach however many runs overlap or a task is delivered again: a breach is inserted with
INSERT ... ON CONFLICT DO NOTHING against its unique (rule, object, entry into the state), and only the run whose
row went in raises the alert, in the transaction that inserted it; a run that loses the race waits for the winner's
commit and finds the row there. Rows go in in object order, so overlapping batches never deadlock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from config.db import atomic_service
from support.calendar import NoWorkingHours

from ..models import Breach, TimeInStateRule
from .selectors import Clock, breach_candidates, rule_clock, rule_recipients, state_entries
from .states import STATES, Found, State

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    opened: int = 0
    closed: int = 0


def rules_evaluate(*, now: datetime | None = None) -> dict[str, Evaluation]:
    """Evaluate every active rule (rule name → breaches opened and closed)."""
    now = now or timezone.now()
    results = {}
    for rule in TimeInStateRule.objects.filter(active=True).select_related("calendar").order_by("pk"):
        try:
            results[rule.name] = rule_evaluate(rule=rule, now=now)
        except NoWorkingHours:
            logger.error("time-in-state rule %r counts working hours of a calendar that has none: skipped", rule.name)
    return results


def rule_evaluate(*, rule: TimeInStateRule, now: datetime | None = None, batch_size: int | None = None,
                  max_batches: int | None = None) -> Evaluation:
    """Close the rule's breaches whose object moved on, then open the new ones, a bounded batch per transaction."""
    state = STATES.get(rule.state)
    if state is None:
        logger.error("time-in-state rule %r watches %r, a state that no longer exists: skipped", rule.name, rule.state)
        return Evaluation()
    now = now or timezone.now()
    batch_size = batch_size or settings.WAYBILL_TIME_IN_STATE_BATCH_SIZE
    max_batches = max_batches or settings.WAYBILL_TIME_IN_STATE_MAX_BATCHES
    result = Evaluation(closed=breaches_close_moved_on(rule=rule, state=state, now=now))
    clock = rule_clock(rule=rule, now=now)
    recipients = rule_recipients(rule=rule)
    for _ in range(max_batches):
        opened, full = _open_batch(rule=rule, state=state, clock=clock, recipients=recipients, batch_size=batch_size)
        result.opened += opened
        if not full:
            break
    return result


def _closing_time(now: datetime):
    return Greatest(Value(now), F("opened_at"))  # a worker whose clock is behind never closes before it opened


CLOSE_PAGE = 1000  # open breaches checked per query (two reads; there are as many as objects wait too long)


def breaches_close_moved_on(*, rule: TimeInStateRule, state: State, now: datetime, page: int = CLOSE_PAGE) -> int:
    """Close the rule's open breaches whose object left the state, or entered it again since (a conditional UPDATE:
    two runs closing the same breach close it once)."""
    closed = (Breach.objects.filter(rule=rule, closed_at__isnull=True).exclude(state=state.key)
              .update(closed_at=_closing_time(now)))
    after = 0
    while True:
        rows = list(Breach.objects.filter(rule=rule, closed_at__isnull=True, pk__gt=after).order_by("pk")
                    .values_list("pk", "object_id", "entered_at")[:page])
        if not rows:
            return closed
        current = state_entries(state=state, object_ids=[object_id for _, object_id, _ in rows])
        moved_on = [pk for pk, object_id, entered_at in rows if current.get(object_id) != entered_at]
        if moved_on:
            closed += (Breach.objects.filter(pk__in=moved_on, closed_at__isnull=True)
                       .update(closed_at=_closing_time(now)))
        if len(rows) < page:
            return closed
        after = rows[-1][0]


@atomic_service
def _open_batch(*, rule: TimeInStateRule, state: State, clock: Clock, recipients: list[str] | None,
                batch_size: int) -> tuple[int, bool]:
    """One batch: the breaches inserted now and their alerts, in one transaction. Returns (opened, batch was full)."""
    if connection.vendor == "postgresql":
        # The correlated look-ups inflate the planner's estimate past jit_above_cost: compiling would cost more
        # (50 ms and up, measured on the bench database) than the scan itself (a few ms).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
    late = sorted(breach_candidates(rule=rule, state=state, clock=clock)[:batch_size], key=lambda obj: obj.pk)
    if not late:
        return 0, False
    found = {}
    for obj in late:
        entered_at = obj.state_entered_at
        due_at = state.due.at(obj) if rule.uses_due_time else clock.due(entered_at)
        found[obj.pk] = Found(rule=rule, entered_at=entered_at, due_at=due_at, now=clock.now,
                              waited_hours=clock.waited_hours(entered_at))
    inserted = _insert_breaches(rule=rule, state=state, now=clock.now,
                                rows=[(obj, found[obj.pk]) for obj in late])
    if inserted and apps.is_installed("notifications"):
        _alert(rule=rule, state=state, recipients=recipients,
               breaches=[(obj, found[obj.pk], inserted[obj.pk]) for obj in late if obj.pk in inserted])
    return len(inserted), len(late) == batch_size


def _insert_breaches(*, rule: TimeInStateRule, state: State, now: datetime, rows) -> dict[int, int]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: object id → breach id, for the rows this call inserted."""
    meta = Breach._meta
    columns = ["rule", "state", "object_id", "label", "entered_at", "due_at", "opened_at"]
    quote = connection.ops.quote_name
    moment = connection.ops.adapt_datetimefield_value
    params = []
    for obj, found in rows:
        params += [rule.pk, state.key, obj.pk, state.label_of(obj)[:200], moment(found.entered_at),
                   moment(found.due_at), moment(now)]
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(meta.get_field(c).column) for c in columns)}) "
           f"VALUES {', '.join(['(' + ', '.join(['%s'] * len(columns)) + ')'] * len(rows))} "
           f"ON CONFLICT DO NOTHING RETURNING {quote('id')}, {quote('object_id')}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {object_id: pk for pk, object_id in cursor.fetchall()}


def _alert(*, rule: TimeInStateRule, state: State, recipients: list[str] | None, breaches) -> None:
    from notifications.selectors import outbox_keys_recorded
    from notifications.services import notification_emit

    legacy = {obj.pk: key for obj, found, _ in breaches
              if state.legacy_key and (key := state.legacy_key(obj, found))}
    raised_before = outbox_keys_recorded(keys=legacy.values()) if legacy else set()
    event = state.event_for(rule)
    for obj, found, breach_id in breaches:
        if legacy.get(obj.pk) in raised_before:
            continue  # the app's own check alerted about this before the rules took over
        payload = state.alert(obj, found)
        notification_emit(event=event, subject=state.subject_of(obj), idempotency_key=f"time-in-state:{breach_id}",
                          payload=payload, staff_recipients=recipients)
        if state.record:
            state.record(obj, payload["title"], found)
