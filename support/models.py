"""Support: tickets tied to orders, parcels, returns and units; their conversation and timeline; queues, SLA
policies on business hours, canned replies, and the inbound email log.

A ticket's lifecycle:  new → open ⇄ waiting on customer → solved → closed
A customer's reply to a solved ticket reopens it within WAYBILL_TICKET_REOPEN_DAYS; later it starts a new ticket
that names the old one. A duplicate is merged into another ticket (its messages move there). Every write goes
through support.services under the ticket's row lock.
"""

from __future__ import annotations

import secrets
import zoneinfo
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from orders.models import new_number

from . import calendar


def new_ticket_number() -> str:
    return new_number("TK")


def new_reply_token() -> str:
    return secrets.token_urlsafe(16)


def _valid_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value} is not a time zone (use a name like Europe/Berlin).")


class BusinessCalendar(models.Model):
    """When the support team works: hours per weekday in a time zone, and holidays. SLA targets count only
    this time."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="Europe/Berlin", validators=[_valid_zone])
    is_default = models.BooleanField(default=False, help_text="Used by queues without a calendar of their own.")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                               name="businesscalendar_one_default")]

    def __str__(self) -> str:
        return self.name

    def hours(self) -> calendar.Hours:
        """The calendar as business-hours arithmetic needs it (two queries; callers keep it for a request)."""
        week: dict[int, list[tuple[time, time]]] = {}
        for row in self.working_hours.all():
            week.setdefault(row.weekday, []).append((row.opens, row.closes))
        return calendar.Hours(zone=self.time_zone, week=week,
                              holidays=frozenset(self.holidays.values_list("date", flat=True)))


class WorkingHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["calendar", "weekday", "opens"]
        verbose_name_plural = "working hours"
        constraints = [models.CheckConstraint(condition=Q(closes__gt=models.F("opens")) | Q(closes=time(0)),
                                              name="workinghours_closes_after_opening")]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class Holiday(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class Category(models.TextChoices):
    DEFECT = "defect", "Defective item"
    DELIVERY = "delivery", "Delivery"
    RETURN = "return", "Return"
    BILLING = "billing", "Billing"
    OTHER = "other", "Other"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Queue(models.Model):
    name = models.CharField(max_length=100, unique=True)
    category = models.CharField(max_length=20, choices=Category.choices, unique=True,
                                help_text="New tickets of this category land here.")
    calendar = models.ForeignKey(BusinessCalendar, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="queues", help_text="Empty: the default calendar.")
    auto_assign = models.BooleanField(default=True, help_text="Give each new ticket to the agent of the queue "
                                      "with the fewest open tickets.")
    agents = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="support_queues")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    """Targets in business hours for tickets of a priority (and optionally a category: the more specific wins)."""

    priority = models.CharField(max_length=10, choices=Priority.choices)
    category = models.CharField(max_length=20, choices=Category.choices, blank=True,
                                help_text="Empty: every category.")
    first_response_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    resolution_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    warning_percent = models.PositiveSmallIntegerField(
        default=75, validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="Staff are alerted once when this share of a target has passed.")

    class Meta:
        ordering = ["priority", "category"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [models.UniqueConstraint(fields=["priority", "category"], name="slapolicy_unique")]

    def __str__(self) -> str:
        return f"{self.get_priority_display()}{' · ' + self.get_category_display() if self.category else ''}"


class Ticket(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        WAITING = "waiting", "Waiting on the customer"
        SOLVED = "solved", "Solved"
        CLOSED = "closed", "Closed"
        MERGED = "merged", "Merged into another ticket"

    class Channel(models.TextChoices):
        PORTAL = "portal", "Portal"
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        SYSTEM = "system", "System"
        API = "api", "API"

    ACTIVE = [Status.NEW, Status.OPEN, Status.WAITING]

    number = models.CharField(max_length=20, default=new_ticket_number, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="tickets", help_text="Empty for a guest, known by email.",
                                 db_index=False)
    email = models.EmailField("contact email")
    name = models.CharField("contact name", max_length=150, blank=True)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="tickets", db_index=False)
    order_line = models.ForeignKey("orders.OrderLine", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    shipment = models.ForeignKey("shipping.Shipment", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="tickets")
    return_request = models.ForeignKey("returns.ReturnRequest", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="tickets")
    serial = models.CharField("serial number", max_length=64, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.PORTAL)
    subject = models.CharField(max_length=200)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_tickets")
    status = FSMField(default=Status.NEW, choices=Status.choices, protected=True, db_index=False)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged")
    follow_up_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="follow_ups", help_text="The solved ticket this one continues.")
    # SLA: due times in real time, computed from business hours when the ticket opens and on each resume
    sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolution_spent_minutes = models.FloatField(default=0, help_text="Business minutes the resolution clock ran "
                                                 "until it last stopped.")
    resolution_running_since = models.DateTimeField(null=True, blank=True, help_text="Empty while the clock is "
                                                    "stopped: waiting on the customer, or solved.")
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    reply_token = models.CharField(max_length=32, default=new_reply_token, editable=False,
                                   help_text="Part of the signed reply-to address of the ticket's emails.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("work_ticket", "Can work on tickets: reply, note, take, solve"),
            ("assign_ticket", "Can assign tickets to other agents (leads)"),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at", "-id"], name="ticket_status_created"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status"),
            models.Index(fields=["queue", "status"], name="ticket_queue_status"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_created"),
            models.Index(fields=["order", "created_at"], name="ticket_order"),
            models.Index(fields=["resolution_due"], condition=Q(status__in=["new", "open"]),
                         name="ticket_resolution_due_active"),
            models.Index(Upper("email"), name="ticket_email_upper"),
            models.Index(Upper("number"), name="ticket_number_upper"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="ticket_number_unique"),
            models.CheckConstraint(condition=~Q(status="merged") | Q(merged_into__isnull=False),
                                   name="ticket_merged_names_target"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def sla_paused(self) -> bool:
        return self.status == self.Status.WAITING

    # --- lifecycle: in-memory only; support.services saves under the row lock ------------------------------
    @transition(field=status, source=[Status.NEW, Status.WAITING, Status.SOLVED], target=Status.OPEN,
                permission="support.work_ticket")
    def open(self, **kwargs):
        """An agent works on it, or the customer wrote again."""

    @transition(field=status, source=[Status.NEW, Status.OPEN], target=Status.WAITING,
                permission="support.work_ticket")
    def wait(self, **kwargs):
        """We asked the customer something: the resolution clock stops."""

    @transition(field=status, source=[Status.NEW, Status.OPEN, Status.WAITING], target=Status.SOLVED,
                permission="support.work_ticket")
    def solve(self, **kwargs):
        pass

    @transition(field=status, source=Status.SOLVED, target=Status.CLOSED, permission="support.work_ticket")
    def close(self, **kwargs):
        pass

    @transition(field=status, source=[Status.NEW, Status.OPEN, Status.WAITING], target=Status.MERGED,
                permission="support.work_ticket")
    def merge(self, **kwargs):
        pass

    for _method in (open, wait, solve, close, merge):
        _method.alters_data = True
    del _method


def _attachment_path(instance, filename: str) -> str:
    import uuid

    extension = filename.rsplit(".", 1)[-1].lower()[:8] if "." in filename else "bin"
    return f"support/{instance.message.ticket.number}/{uuid.uuid4().hex}.{extension}"


class Message(models.Model):
    """One message of the conversation: a public reply (customer ↔ agent) or an internal note (staff only)."""

    class Source(models.TextChoices):
        PORTAL = "portal", "Portal"
        EMAIL = "email", "Email"
        AGENT = "agent", "Agent"
        API = "api", "API"
        SYSTEM = "system", "System"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages", db_index=False)
    internal = models.BooleanField(default=False, help_text="An internal note: never shown to the customer.")
    from_customer = models.BooleanField(default=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.AGENT)
    body = models.TextField()
    email_message_id = models.CharField(max_length=255, blank=True, help_text="Message-ID of the email it came in.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="message_conversation")]
        constraints = [
            models.CheckConstraint(condition=~(Q(internal=True) & Q(from_customer=True)),
                                   name="message_customers_write_no_notes"),
            models.UniqueConstraint(fields=["email_message_id"], condition=~Q(email_message_id=""),
                                    name="message_unique_email"),
        ]

    def __str__(self) -> str:
        return self.body[:60]


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=_attachment_path)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return self.filename


class TicketEvent(models.Model):
    """One entry on a ticket's timeline: status changes, assignment, links, the case's events, SLA alerts."""

    class Kind(models.TextChoices):
        STATUS = "status", "Status change"
        ASSIGNMENT = "assignment", "Assignment"
        PRIORITY = "priority", "Priority"
        LINK = "link", "Linked"
        CASE = "case", "Case"
        SLA = "sla", "SLA"
        MERGE = "merge", "Merge"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    internal = models.BooleanField(default=True, help_text="Staff only (most of a ticket's timeline is).")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="ticketevent_timeline")]

    def __str__(self) -> str:
        return self.text[:60]


class CannedReply(models.Model):
    """A reply agents insert and edit: {{ customer_name }}, {{ order_number }}, {{ tracking_link }},
    {{ ticket_number }} and {{ agent_name }} are filled in."""

    title = models.CharField(max_length=100, unique=True)
    body = models.TextField()
    category = models.CharField(max_length=20, choices=Category.choices, blank=True)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title


class InboundEmail(models.Model):
    """Every email that reached the support address, and what became of it (threaded, opened a ticket, or
    ignored as a bounce, an auto-reply, a duplicate or a forged reply)."""

    class Outcome(models.TextChoices):
        THREADED = "threaded", "Added to a ticket"
        OPENED = "opened", "Opened a ticket"
        BOUNCE = "bounce", "Ignored: a bounce"
        AUTO_REPLY = "auto_reply", "Ignored: an automatic reply"
        DUPLICATE = "duplicate", "Ignored: already received"
        REFUSED = "refused", "Refused: forged or unreadable"

    message_id = models.CharField(max_length=255, blank=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    detail = models.CharField(max_length=255, blank=True)
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    size = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"
