"""SLA clocks on business hours: targets from the policy for the ticket's priority (and category), due times from
the queue's calendar, a resolution clock that stops while we wait on the customer and resumes on their reply,
and a staff alert once at the warning threshold (the breach is a time-in-state rule's: analytics)."""

from __future__ import annotations

from datetime import datetime, time

from django.apps import apps
from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from config.db import atomic_service

from .. import calendar
from ..models import BusinessCalendar, SlaPolicy, Ticket, TicketEvent

ALWAYS = {day: [(time(0), time(0))] for day in range(7)}  # no calendar configured: every hour counts


def hours_for(ticket: Ticket) -> calendar.Hours:
    cal = (ticket.queue.calendar if ticket.queue_id and ticket.queue.calendar_id else None) or \
        BusinessCalendar.objects.filter(is_default=True).first()
    if cal is None:
        return calendar.Hours(zone=settings.TIME_ZONE, week=ALWAYS)
    return cal.hours()


def policy_for(*, priority: str, category: str) -> SlaPolicy | None:
    """The policy for this priority and category, or for the priority and every category."""
    found = {p.category: p for p in SlaPolicy.objects.filter(priority=priority, category__in=[category, ""])}
    return found.get(category) or found.get("")


def start(ticket: Ticket, *, now: datetime) -> None:
    """Set the targets when a ticket opens (in memory; the caller saves)."""
    ticket.sla_policy = policy = policy_for(priority=ticket.priority, category=ticket.category)
    ticket.resolution_spent_minutes, ticket.resolution_running_since = 0.0, now
    if policy is None:
        ticket.first_response_due = ticket.resolution_due = None
        return
    hours = hours_for(ticket)
    ticket.first_response_due = calendar.add_business_minutes(hours, ticket.created_at or now,
                                                              policy.first_response_minutes)
    ticket.resolution_due = calendar.add_business_minutes(hours, now, policy.resolution_minutes)


def spent(ticket: Ticket, *, now: datetime, hours: calendar.Hours | None = None) -> float:
    """Business minutes the resolution clock has run so far."""
    total = ticket.resolution_spent_minutes
    if ticket.resolution_running_since is not None:
        total += calendar.business_minutes_between(hours or hours_for(ticket), ticket.resolution_running_since, now)
    return total


def stop(ticket: Ticket, *, now: datetime) -> None:
    """Waiting on the customer, or solved: the resolution clock stops where it is."""
    if ticket.resolution_running_since is None:
        return
    ticket.resolution_spent_minutes = spent(ticket, now=now)
    ticket.resolution_running_since = None


def resume(ticket: Ticket, *, now: datetime) -> None:
    """The customer answered (or the ticket reopened): the clock runs again and the due time moves by the pause."""
    if ticket.resolution_running_since is not None:
        return
    ticket.resolution_running_since = now
    if ticket.sla_policy_id:
        left = max(ticket.sla_policy.resolution_minutes - ticket.resolution_spent_minutes, 0)
        ticket.resolution_due = calendar.add_business_minutes(hours_for(ticket), now, left)


def retarget(ticket: Ticket, *, now: datetime) -> None:
    """The priority or category changed: the new policy's targets, counting the time already spent."""
    running = ticket.resolution_running_since is not None
    used = spent(ticket, now=now)
    ticket.sla_policy = policy = policy_for(priority=ticket.priority, category=ticket.category)
    if policy is None:
        ticket.first_response_due = ticket.resolution_due = None
        return
    hours = hours_for(ticket)
    if ticket.first_responded_at is None:
        ticket.first_response_due = calendar.add_business_minutes(hours, ticket.created_at,
                                                                  policy.first_response_minutes)
    if running:
        ticket.resolution_spent_minutes, ticket.resolution_running_since = used, now
        ticket.resolution_due = calendar.add_business_minutes(hours, now, max(policy.resolution_minutes - used, 0))


def resolution_met(ticket: Ticket) -> bool | None:
    """Whether a solved ticket met its resolution target (None without a policy)."""
    if ticket.sla_policy_id is None:
        return None
    return ticket.resolution_spent_minutes <= ticket.sla_policy.resolution_minutes


def first_response_met(ticket: Ticket) -> bool | None:
    if ticket.first_response_due is None or ticket.first_responded_at is None:
        return None
    return ticket.first_responded_at <= ticket.first_response_due


# --- alerts ---------------------------------------------------------------------------------------------------

def _warning_at(ticket: Ticket, target: str, hours: calendar.Hours) -> datetime | None:
    policy = ticket.sla_policy
    if target == "first_response":
        return calendar.add_business_minutes(hours, ticket.created_at,
                                             policy.first_response_minutes * policy.warning_percent / 100)
    left_at_warning = policy.resolution_minutes * (100 - policy.warning_percent) / 100
    # the instant when only `left_at_warning` business minutes remain before the due time
    total_left = max(policy.resolution_minutes - ticket.resolution_spent_minutes, 0)
    if total_left <= left_at_warning:
        return ticket.resolution_running_since
    return calendar.add_business_minutes(hours, ticket.resolution_running_since, total_left - left_at_warning)


@atomic_service
def sla_alert(*, now: datetime | None = None) -> int:
    """Warn staff once per ticket and target when it passes its warning threshold (through the outbox, keyed by the
    due time, so a later due time after a pause warns afresh). Returns how many warnings were raised now.

    The breach itself (the due time passed) is a time-in-state rule's (analytics: "Ticket waiting for a first
    reply past its SLA", "Ticket waiting on us past its SLA"), which raises ticket.sla_breached once per breach and
    puts it on the ticket's timeline with ticket_record_sla_breach."""
    if not apps.is_installed("notifications"):
        return 0
    from notifications.selectors import outbox_keys_recorded
    from notifications.services import notification_emit

    now = now or timezone.now()
    candidates = (Ticket.objects.select_related("sla_policy", "queue__calendar", "assignee", "order")
                  .filter(sla_policy__isnull=False)
                  .filter(Q(status__in=[Ticket.Status.NEW, Ticket.Status.OPEN], resolution_due__isnull=False)
                          | Q(status__in=Ticket.ACTIVE, first_responded_at__isnull=True))
                  .order_by("pk"))
    found = []
    for ticket in candidates:
        hours = hours_for(ticket)
        targets = []
        if ticket.first_responded_at is None and ticket.first_response_due:
            targets.append(("first_response", ticket.first_response_due))
        if ticket.resolution_running_since is not None and ticket.resolution_due:
            targets.append(("resolution", ticket.resolution_due))
        for target, due in targets:
            if now >= due:
                continue  # breached: the time-in-state rules alert about it
            warning = _warning_at(ticket, target, hours)
            if warning is not None and now >= warning:
                found.append((ticket, target, due))
    keys = {(t.pk, target): f"ticket:{t.pk}:sla:{target}:warning:{due.isoformat()}" for t, target, due in found}
    already = outbox_keys_recorded(keys=keys.values())
    raised = 0
    for ticket, target, due in found:
        key = keys[(ticket.pk, target)]
        if key in already:
            continue
        title = sla_alert_title(ticket, target=target, due=due, level="warning")
        notification_emit(event="ticket.sla_warning", subject=ticket, idempotency_key=key, payload={
            **sla_alert_payload(ticket, target=target, due=due), "title": title})
        TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.SLA, text=title + ".",
                                   data={"target": target, "level": "warning", "due": due.isoformat()})
        raised += 1
    return raised


TARGET_WORDS = {"first_response": "first reply", "resolution": "resolution"}


def sla_alert_title(ticket: Ticket, *, target: str, due: datetime, level: str) -> str:
    local = timezone.localtime(due)
    if level == "breached":
        return f"SLA breached: {ticket.number} {TARGET_WORDS[target]} was due {local:%a %d %b %H:%M}"
    return f"SLA warning: {ticket.number} {TARGET_WORDS[target]} due {local:%a %d %b %H:%M}"


def sla_alert_payload(ticket: Ticket, *, target: str, due: datetime) -> dict:
    """What a staff alert about a ticket's SLA target says besides its title (the warning here, the breach from
    the time-in-state rules)."""
    return {
        "ticket_number": ticket.number, "target": target, "due": due.isoformat(), "priority": ticket.priority,
        "assignee": ticket.assignee.get_username() if ticket.assignee_id else "",
        "order_number": ticket.order.number if ticket.order_id else "",
        "message": f"{ticket.subject} ({ticket.get_priority_display().lower()} priority"
                   f"{', ' + ticket.assignee.get_username() if ticket.assignee_id else ', unassigned'}).",
        "link": reverse("admin:support_ticket_change", args=[ticket.pk]),
    }


@atomic_service
def ticket_record_sla_breach(*, ticket: Ticket, target: str, due: datetime, title: str) -> TicketEvent:
    """Put an SLA breach a staff alert was raised about on the ticket's timeline (staff only)."""
    return TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.SLA, text=title + ".",
                                      data={"target": target, "level": "breached", "due": due.isoformat()})
