"""Tickets: opening (with their links to the order, line, parcel, return and serial), the conversation (public
replies and internal notes), the lifecycle, assignment, merging, and the periodic close of solved tickets.

Locks: the ticket row (tickets in primary-key order when two are involved). Customer-visible steps go through the
notifications outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, Q
from django.template import Context, Template, TemplateSyntaxError
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from config.db import atomic_service
from config.links import order_link
from config.text import clean_text
from orders.models import Order, OrderLine
from orders.services import order_event_record

from ..errors import (
    InvalidTicket,
    TicketNotFound,
    TicketTransitionForbidden,
    TicketTransitionNotAllowed,
    TicketTransitionNotFound,
)
from ..models import CannedReply, Category, Message, Priority, Queue, Ticket, TicketEvent
from . import sla
from .attachments import check_attachments, stored_attachments
from .mail import reply_address

KIND_TICKET = "ticket"  # the order timeline's kind for tickets (registered in SupportConfig)
MAX_SUBJECT, MAX_BODY = 200, 20_000
S = Ticket.Status


def _person(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _is_agent(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_staff and user.has_perm("support.work_ticket"))


def _text(value, field: str, *, limit: int, required: bool = True) -> str:
    return clean_text(value, field, limit=limit, required=required, error=InvalidTicket)


def lock(ticket: Ticket | str) -> Ticket:
    number = ticket.number if isinstance(ticket, Ticket) else str(ticket).upper()
    try:
        return (Ticket.objects.select_for_update(of=("self",))
                .select_related("sla_policy", "queue__calendar", "order", "customer", "assignee")
                .get(number=number))
    except Ticket.DoesNotExist:
        raise TicketNotFound(f"No ticket {number}.", number=number) from None


def record(ticket: Ticket, *, kind: str, text: str, actor=None, internal: bool = True, from_status: str = "",
           to_status: str = "", data: dict | None = None) -> TicketEvent:
    return TicketEvent.objects.create(ticket=ticket, kind=kind, text=text, actor=_person(actor), internal=internal,
                                      from_status=from_status, to_status=to_status,
                                      data={"ticket_number": ticket.number, **(data or {})})


def _check(ticket: Ticket, name: str, *, actor, check_permission: bool) -> None:
    method = getattr(ticket, name)
    if not can_proceed(method):
        raise TicketTransitionNotAllowed(
            f"Ticket {ticket.number} is {ticket.get_status_display().lower()} and cannot {name}.",
            transition=name, status=ticket.status,
            allowed=[t.name for t in ticket.get_available_status_transitions()])
    if check_permission and actor is not None and not has_transition_perm(method, actor):
        raise TicketTransitionForbidden(f"You may not {name} tickets.", transition=name)


def move(ticket: Ticket, name: str, *, actor=None, text: str = "", check_permission: bool = True) -> None:
    """Fire one transition with its clock effects, save, and put it on the timeline."""
    _check(ticket, name, actor=actor, check_permission=check_permission)
    now, before = timezone.now(), ticket.status
    getattr(ticket, name)()
    if name == "wait" or name == "merge":
        sla.stop(ticket, now=now)
    elif name == "open" and before in (S.WAITING, S.SOLVED):
        if before == S.SOLVED:
            ticket.solved_at = None
        sla.resume(ticket, now=now)
    elif name == "solve":
        sla.stop(ticket, now=now)
        ticket.solved_at = now
    elif name == "close":
        ticket.closed_at = now
    ticket.save()
    record(ticket, kind=TicketEvent.Kind.STATUS, from_status=before, to_status=ticket.status, actor=actor,
           internal=False, text=text or f"{S(before).label} → {ticket.get_status_display()}")


def _notify(event: str, ticket: Ticket, *, key: str, **payload) -> None:
    if not apps.is_installed("notifications"):
        return
    from notifications.services import notification_emit

    site = settings.WAYBILL_SITE_URL.rstrip("/")
    # the conversation in the portal for an account; a guest's order opens from its signed link
    if ticket.customer_id:
        link = f"{site}/help/{ticket.number}/"
    elif ticket.order_id:
        link = order_link(ticket.order.number)
    else:
        link = site
    notification_emit(event=event, subject=ticket, idempotency_key=f"ticket:{ticket.pk}:{key}", payload={
        "ticket_number": ticket.number, "subject": ticket.subject, "customer_name": ticket.name,
        "order_number": ticket.order.number if ticket.order_id else "", "status": ticket.status,
        "status_display": ticket.get_status_display(), "link": link,
        "reply_to": reply_address(ticket), **payload})


# --- opening ----------------------------------------------------------------------------------------------------

def _links(*, customer, email: str, order, order_line, shipment, return_request, actor) -> dict:
    """Check that every link belongs together (and, for a customer, to them); returns the objects."""
    if order is not None and not isinstance(order, Order):
        order = Order.objects.filter(number=str(order).upper()).first()
        if order is None:
            raise InvalidTicket("No such order.", fields={"order": ["Unknown order number."]})
    if order is not None and not _is_agent(actor):
        own = (customer is not None and order.customer_id == customer.pk) or \
            (customer is None and order.email.lower() == email.lower())
        if not own:  # as if it did not exist: nobody learns about other people's orders
            raise InvalidTicket("No such order.", fields={"order": ["Unknown order number."]})
    if order_line is not None:
        line_id = getattr(order_line, "pk", order_line)
        order_line = OrderLine.objects.filter(pk=line_id, order=order).first() if order is not None else None
        if order_line is None:
            raise InvalidTicket("That line is not on the ticket's order.", fields={"order_line": ["Not on the order."]})
    if shipment is not None:
        from shipping.models import Shipment

        shipment_id = getattr(shipment, "pk", shipment)
        shipment = Shipment.objects.filter(pk=shipment_id, order=order).first() if order is not None else None
        if shipment is None:
            raise InvalidTicket("That parcel is not on the ticket's order.", fields={"shipment": ["Not on the order."]})
    if return_request is not None:
        from returns.models import ReturnRequest

        rr_number = getattr(return_request, "number", return_request)
        return_request = ReturnRequest.objects.filter(number=rr_number, order=order).first() if order else None
        if return_request is None:
            raise InvalidTicket("That return is not on the ticket's order.",
                                fields={"return_request": ["Not on the order."]})
    return {"order": order, "order_line": order_line, "shipment": shipment, "return_request": return_request}


def _queue_for(category: str) -> Queue | None:
    return Queue.objects.filter(category=category).select_related("calendar").first()


def _least_busy_agent(queue: Queue):
    """The queue's agent with the fewest active tickets in the queue (ties: the lowest id), or None."""
    return (queue.agents.filter(is_active=True, is_staff=True)
            .annotate(load=Count("assigned_tickets", filter=Q(assigned_tickets__status__in=Ticket.ACTIVE,
                                                              assigned_tickets__queue=queue)))
            .order_by("load", "pk").first())


@atomic_service
def ticket_open(*, subject: str, body: str, email: str = "", customer=None, name: str = "",
                category: str = Category.OTHER, priority: str = Priority.NORMAL,
                channel: str = Ticket.Channel.PORTAL, order=None, order_line=None, shipment=None,
                return_request=None, serial: str = "", actor=None, attachments: Sequence = (),
                follow_up_of: Ticket | None = None, email_message_id: str = "", notify: bool = True) -> Ticket:
    """Open a ticket with its first message. The customer is a user, or a guest known by `email`; an agent may
    open one for a customer (a phone call: the first message is what the customer said)."""
    subject = _text(subject, "subject", limit=MAX_SUBJECT)
    body = _text(body, "body", limit=MAX_BODY)
    check_attachments(attachments)
    if category not in Category.values:
        raise InvalidTicket("Unknown category.", fields={"category": [f"One of: {', '.join(Category.values)}."]})
    if priority not in Priority.values:
        raise InvalidTicket("Unknown priority.", fields={"priority": [f"One of: {', '.join(Priority.values)}."]})
    if channel not in Ticket.Channel.values:
        raise InvalidTicket("Unknown channel.", fields={"channel": [f"One of: {', '.join(Ticket.Channel.values)}."]})
    email = (email or getattr(customer, "email", "") or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidTicket("Give an email address we can answer to.", fields={"email": ["A valid email."]}) from None
    serial = _text(serial, "serial", limit=64, required=False).upper()
    links = _links(customer=customer, email=email, order=order, order_line=order_line, shipment=shipment,
                   return_request=return_request, actor=actor)
    if customer is None and links["order"] is not None and links["order"].customer_id:
        customer = links["order"].customer
    now = timezone.now()
    ticket = Ticket(subject=subject, customer=customer, email=email, channel=channel, category=category,
                    priority=priority, serial=serial, follow_up_of=follow_up_of, created_by=_person(actor),
                    name=(name or (customer.get_full_name() if customer else "") or
                          (links["order"].ship_name if links["order"] else "")).strip()[:150],
                    last_customer_message_at=now, queue=_queue_for(category), **links)
    ticket.created_at = now
    if ticket.queue is not None and ticket.queue.auto_assign:
        ticket.assignee = _least_busy_agent(ticket.queue)
    sla.start(ticket, now=now)
    ticket.save(force_insert=True)
    agent_logged = _is_agent(actor) and (customer is None or actor.pk != customer.pk)
    message = Message.objects.create(ticket=ticket, body=body, from_customer=True, author=_person(actor),
                                     source={Ticket.Channel.EMAIL: Message.Source.EMAIL,
                                             Ticket.Channel.API: Message.Source.API}.get(
                                         channel, Message.Source.AGENT if agent_logged else Message.Source.PORTAL),
                                     email_message_id=email_message_id[:255])
    stored_attachments(message, attachments)
    record(ticket, kind=TicketEvent.Kind.STATUS, to_status=ticket.status, actor=actor, internal=False,
           text=f"Ticket opened ({ticket.get_channel_display()})"
                + (f", follows {follow_up_of.number}" if follow_up_of else "") + ".",
           data={"channel": channel, "category": category})
    if ticket.assignee_id:
        record(ticket, kind=TicketEvent.Kind.ASSIGNMENT, text=f"Assigned to {ticket.assignee.get_username()} "
               f"(fewest open tickets in {ticket.queue.name}).", data={"assignee": ticket.assignee_id})
    if ticket.order_id:
        order_event_record(order=ticket.order, kind=KIND_TICKET, actor=_person(actor),
                           text=f"Conversation {ticket.number} started: {subject}",
                           data={"ticket_number": ticket.number, "status": ticket.status})
    if notify and channel != Ticket.Channel.SYSTEM:
        _notify("ticket.opened", ticket, key="opened", body=body)
    return ticket


# --- the conversation -------------------------------------------------------------------------------------------

AGENT_NEXT = {"open": S.OPEN, "waiting": S.WAITING, "solved": S.SOLVED}


@atomic_service
def ticket_reply(*, ticket: Ticket | str, author, body: str, internal: bool = False, then: str | None = None,
                 attachments: Sequence = (), check_permission: bool = True) -> Message:
    """An agent writes: a public reply (emailed to the customer, with a reply-to address that threads their answer
    back here) or an internal note (staff only, anywhere). `then` sets the status after it: open, waiting (the
    default after a public reply) or solved."""
    if check_permission and not _is_agent(author):
        raise TicketTransitionForbidden("Only support agents reply to tickets.", transition="reply")
    body = _text(body, "body", limit=MAX_BODY)
    check_attachments(attachments)
    then = then or (None if internal else "waiting")  # a note changes nothing we wait for
    if then is not None and then not in AGENT_NEXT:
        raise InvalidTicket("Unknown next status.", fields={"then": [f"One of: {', '.join(AGENT_NEXT)}."]})
    locked = lock(ticket)
    if locked.status in (S.CLOSED, S.MERGED):
        target = f" (merged into {locked.merged_into.number})" if locked.merged_into_id else ""
        raise TicketTransitionNotAllowed(f"Ticket {locked.number} is {locked.get_status_display().lower()}"
                                         f"{target}: write on an active ticket.", status=locked.status)
    now = timezone.now()
    message = Message.objects.create(ticket=locked, body=body, internal=internal, author=_person(author),
                                     source=Message.Source.AGENT)
    stored_attachments(message, attachments)
    if not internal and locked.first_responded_at is None:
        locked.first_responded_at = now
        met = sla.first_response_met(locked)
        record(locked, kind=TicketEvent.Kind.SLA, actor=author,
               text="First reply" + ("" if met is None else (" within the target." if met else " after the target.")),
               data={"met": met})
    if locked.status == S.NEW:
        move(locked, "open", actor=author, check_permission=False, text="Opened by the first reply.")
    target = AGENT_NEXT[then] if then else locked.status
    if target == S.SOLVED:
        _solve(locked, actor=author, text="Solved with the reply.")
    elif target != locked.status:
        move(locked, "wait" if target == S.WAITING else "open", actor=author, check_permission=False)
    else:
        locked.save()
    if not internal:
        _notify("ticket.reply", locked, key=f"reply:{message.pk}", body=body,
                agent_name=author.get_short_name() or author.get_username() if author else "",
                message_id=message.pk)
    return message


def _reopen_window() -> timedelta:
    return timedelta(days=settings.WAYBILL_TICKET_REOPEN_DAYS)


@atomic_service
def ticket_customer_reply(*, ticket: Ticket | str, body: str, customer=None, source: str = Message.Source.PORTAL,
                          attachments: Sequence = (), email_message_id: str = "") -> tuple[Ticket, Message]:
    """The customer writes on their ticket (portal, API or email). Waiting → open (the clock resumes); a solved
    ticket reopens within WAYBILL_TICKET_REOPEN_DAYS; a closed one, or one solved longer ago, starts a new ticket
    that names it. A merged ticket passes the message to the ticket it was merged into. Returns (the ticket the
    message is on, the message)."""
    body = _text(body, "body", limit=MAX_BODY)
    check_attachments(attachments)
    locked = lock(ticket)
    if locked.status == S.MERGED:
        locked = lock(locked.merged_into)
    now = timezone.now()
    stale = locked.status == S.CLOSED or (locked.status == S.SOLVED and locked.solved_at
                                          and now - locked.solved_at > _reopen_window())
    if stale:
        follow_up = ticket_open(subject=f"Re: {locked.subject}"[:MAX_SUBJECT], body=body, email=locked.email,
                                customer=locked.customer, name=locked.name, category=locked.category,
                                priority=locked.priority,
                                channel=Ticket.Channel.EMAIL if source == Message.Source.EMAIL else
                                Ticket.Channel.PORTAL, order=locked.order, order_line=locked.order_line,
                                shipment=locked.shipment, return_request=locked.return_request,
                                serial=locked.serial, follow_up_of=locked, email_message_id=email_message_id,
                                attachments=attachments, actor=None if customer is None else customer)
        record(locked, kind=TicketEvent.Kind.LINK, text=f"The customer wrote again: continued in {follow_up.number}.",
               data={"follow_up": follow_up.number})
        return follow_up, follow_up.messages.get()
    message = Message.objects.create(ticket=locked, body=body, from_customer=True, author=_person(customer),
                                     source=source, email_message_id=email_message_id[:255])
    stored_attachments(message, attachments)
    locked.last_customer_message_at = now
    if locked.status in (S.WAITING, S.SOLVED):
        move(locked, "open", actor=customer, check_permission=False,
             text="The customer replied." if locked.status == S.WAITING else "Reopened by the customer's reply.")
    else:
        locked.save(update_fields=["last_customer_message_at", "updated_at"])
    return locked, message


def canned_reply_render(*, canned: CannedReply, ticket: Ticket, agent) -> str:
    """The canned reply's text with the ticket's facts filled in (unknown placeholders stay empty)."""
    tracking = ""
    if ticket.shipment_id and ticket.shipment.tracking_number:
        tracking = ticket.shipment.tracking_url or f"{settings.WAYBILL_SITE_URL.rstrip('/')}/track/" \
            f"{ticket.shipment.tracking_number}/"
    elif ticket.order_id:
        from shipping.models import Shipment

        latest = (Shipment.objects.filter(order=ticket.order, direction=Shipment.Direction.OUTBOUND)
                  .exclude(tracking_number="").select_related("carrier").order_by("-created_at").first())
        if latest is not None:
            tracking = latest.tracking_url or f"{settings.WAYBILL_SITE_URL.rstrip('/')}/track/" \
                f"{latest.tracking_number}/"
    context = {"customer_name": ticket.name or "there", "order_number": ticket.order.number if ticket.order_id else "",
               "tracking_link": tracking, "ticket_number": ticket.number,
               "agent_name": (agent.get_short_name() or agent.get_username()) if agent else ""}
    try:
        return Template(canned.body).render(Context(context, autoescape=False)).strip()
    except TemplateSyntaxError as err:
        raise InvalidTicket(f"The canned reply {canned.title!r} has a broken placeholder: {err}.",
                            canned=canned.pk) from None


# --- lifecycle, assignment, merging -------------------------------------------------------------------------------

def _solve(ticket: Ticket, *, actor, text: str = "") -> None:
    from .case import case_pending

    pending = case_pending(ticket)
    if pending:
        raise TicketTransitionNotAllowed(f"Ticket {ticket.number} waits for the case: {pending} It is solved when "
                                         "the customer has it.", transition="solve", status=ticket.status)
    move(ticket, "solve", actor=actor, check_permission=False, text=text)
    met = sla.resolution_met(ticket)
    if met is not None:
        record(ticket, kind=TicketEvent.Kind.SLA, actor=actor, data={"met": met},
               text="Resolved within the target." if met else "Resolved after the target.")


@atomic_service
def ticket_transition(*, ticket: Ticket | str, name: str, actor=None, text: str = "",
                      check_permission: bool = True) -> Ticket:
    """open, wait, solve or close a ticket (merge has its own service)."""
    if name not in ("open", "wait", "solve", "close"):
        raise TicketTransitionNotFound(f"There is no step called {name!r}.", transition=name,
                                       allowed=["open", "wait", "solve", "close"])
    locked = lock(ticket)
    if name == "solve":
        _check(locked, "solve", actor=actor, check_permission=check_permission)
        _solve(locked, actor=actor, text=text)
    else:
        move(locked, name, actor=actor, text=text, check_permission=check_permission)
    return locked


@atomic_service
def ticket_assign(*, ticket: Ticket | str, assignee, actor) -> Ticket:
    """Give a ticket to an agent ("take it" when it is yourself; a lead with support.assign_ticket for others)."""
    if not _is_agent(actor):
        raise TicketTransitionForbidden("Only support agents take tickets.", transition="assign")
    if assignee is not None and getattr(assignee, "pk", None) != actor.pk and not actor.has_perm(
            "support.assign_ticket"):
        raise TicketTransitionForbidden("Only leads give tickets to other agents.", transition="assign")
    if assignee is not None and not _is_agent(assignee):
        raise InvalidTicket(f"{assignee.get_username()} is not a support agent.",
                            fields={"assignee": ["Not an agent."]})
    locked = lock(ticket)
    if not locked.is_active:
        raise TicketTransitionNotAllowed(f"Ticket {locked.number} is {locked.get_status_display().lower()}.",
                                         status=locked.status)
    before = locked.assignee
    if (before.pk if before else None) == (assignee.pk if assignee else None):
        return locked
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    who = assignee.get_username() if assignee else "nobody"
    verb = "Taken by" if assignee is not None and assignee.pk == actor.pk else "Assigned to"
    record(locked, kind=TicketEvent.Kind.ASSIGNMENT, actor=actor,
           text=f"{verb} {who}" + (f" (was {before.get_username()})" if before else "") + ".",
           data={"assignee": assignee.pk if assignee else None, "previous": before.pk if before else None})
    return locked


@atomic_service
def ticket_set_priority(*, ticket: Ticket | str, priority: str, actor) -> Ticket:
    if priority not in Priority.values:
        raise InvalidTicket("Unknown priority.", fields={"priority": [f"One of: {', '.join(Priority.values)}."]})
    if not _is_agent(actor):
        raise TicketTransitionForbidden("Only support agents change priorities.", transition="priority")
    locked = lock(ticket)
    if locked.priority == priority:
        return locked
    before, locked.priority = locked.priority, priority
    sla.retarget(locked, now=timezone.now())
    locked.save()
    record(locked, kind=TicketEvent.Kind.PRIORITY, actor=actor,
           text=f"Priority {Priority(before).label.lower()} → {locked.get_priority_display().lower()}.",
           data={"from": before, "to": priority})
    return locked


@atomic_service
def ticket_merge(*, ticket: Ticket | str, into: Ticket | str, actor) -> Ticket:
    """A duplicate: its messages move to `into` (which takes the links it lacks), and it is merged."""
    if not _is_agent(actor):
        raise TicketTransitionForbidden("Only support agents merge tickets.", transition="merge")
    numbers = [getattr(t, "number", str(t)).upper() for t in (ticket, into)]
    if numbers[0] == numbers[1]:
        raise InvalidTicket("A ticket cannot be merged into itself.", fields={"into": ["Another ticket."]})
    found = {t.number: t for t in Ticket.objects.select_for_update().filter(number__in=numbers).order_by("pk")}
    for number in numbers:
        if number not in found:
            raise TicketNotFound(f"No ticket {number}.", number=number)
    source, target = found[numbers[0]], found[numbers[1]]
    if not target.is_active and target.status != S.SOLVED:
        raise TicketTransitionNotAllowed(f"Ticket {target.number} is {target.get_status_display().lower()}: merge "
                                         "into an active ticket.", status=target.status)
    if source.customer_id != target.customer_id or (not source.customer_id and
                                                     source.email.lower() != target.email.lower()):
        raise InvalidTicket("Only tickets of the same customer are merged.", fields={"into": ["Another customer."]})
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    for link in ("order", "order_line", "shipment", "return_request"):
        if getattr(target, f"{link}_id") is None and getattr(source, f"{link}_id") is not None:
            setattr(target, f"{link}_id", getattr(source, f"{link}_id"))
    target.serial = target.serial or source.serial
    if target.status == S.SOLVED:
        move(target, "open", actor=actor, check_permission=False, text=f"Reopened: {source.number} merged in.")
    target.save()
    source.merged_into = target
    move(source, "merge", actor=actor, check_permission=False, text=f"Merged into {target.number}.")
    record(target, kind=TicketEvent.Kind.MERGE, actor=actor, text=f"{source.number} merged in ({moved} messages).",
           data={"merged": source.number, "messages": moved})
    return target


@atomic_service
def ticket_close_solved(*, now=None) -> int:
    """Close tickets solved more than WAYBILL_TICKET_CLOSE_AFTER_DAYS ago (the periodic task). Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WAYBILL_TICKET_CLOSE_AFTER_DAYS)
    numbers = list(Ticket.objects.filter(status=S.SOLVED, solved_at__lt=cutoff).order_by("pk")
                   .values_list("number", flat=True)[:1000])
    for number in numbers:
        move(lock(number), "close", check_permission=False, text="Closed automatically after being solved.")
    return len(numbers)


def customer_for_email(email: str):
    """The account with this address (verified accounts first), if any."""
    users = get_user_model().objects.filter(email__iexact=email.strip(), is_active=True).order_by("pk")
    return users.first()



@atomic_service
def tickets_attach_customer(*, customer) -> int:
    """Tickets a guest opened with the customer's (verified) email join their account."""
    return Ticket.objects.filter(customer__isnull=True, email__iexact=customer.email).update(customer=customer)
