from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Analytics(models.Model):
    """Holds the permissions of the analytics pages; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_analytics", "Can view analytics")]

    def __str__(self) -> str:
        return "Analytics"


# --- Time-in-state rules (analytics/time_in_state) -----------------------------------------------------------------

def _state_choices():
    from .time_in_state.states import state_choices

    return state_choices()


class TimeInStateRule(models.Model):
    """Alert staff when an object has been in a state too long: an order not shipped 48 hours after it was placed,
    a label the carrier never scanned, a ticket past its SLA. Evaluated by a periodic task; one alert per breach."""

    name = models.CharField(max_length=120)
    state = models.CharField(max_length=64, choices=_state_choices,
                             help_text="The kind of object and the state it waits in. Fixed once the rule exists.")
    max_age_hours = models.DecimalField(
        "maximum age (hours)", max_digits=8, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="How long it may stay in the state. Empty: until its own due time (a ticket's SLA target, the "
                  "date a faulty item is due back), for the states that have one.")
    business_hours = models.BooleanField(
        "count working hours only", default=False,
        help_text="Count the maximum age in the support calendar's working hours (nights, weekends and holidays do "
                  "not count).")
    calendar = models.ForeignKey(
        "support.BusinessCalendar", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The working hours to count; empty: the default calendar.")
    notify_staff_list = models.BooleanField(
        "alert the staff alert list", default=True,
        help_text="Email the addresses in WAYBILL_STAFF_ALERT_EMAILS.")
    notify_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name="alert a group", help_text="Email every active member of this group.")
    notify_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name="alert these people")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "time-in-state rule"
        constraints = [
            models.UniqueConstraint(fields=["name"], name="timeinstaterule_name_unique"),
            models.CheckConstraint(condition=Q(max_age_hours__isnull=True) | Q(max_age_hours__gt=0),
                                   name="timeinstaterule_max_age_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def max_age_label(self) -> str:
        """"48 h", "7.5 h of working time", "its own due time"."""
        if self.max_age_hours is None:
            return "its own due time"
        hours = f"{Decimal(self.max_age_hours).normalize():f} h"
        return f"{hours} of working time" if self.business_hours else hours

    @property
    def uses_due_time(self) -> bool:
        """No maximum age: the object's own due time decides."""
        return self.max_age_hours is None

    def clean(self) -> None:
        from .time_in_state.states import STATES

        state = STATES.get(self.state)
        if state is None:
            return  # the field's choices say so
        if self.max_age_hours is None and state.due is None:
            raise ValidationError({"max_age_hours": "This state has no due time of its own: give a maximum age."})
        if self.max_age_hours is None and self.business_hours:
            raise ValidationError({"business_hours": "Working hours apply to a maximum age; the object's own due "
                                                     "time already counts its calendar."})
        if self.calendar_id and not self.business_hours:
            raise ValidationError({"calendar": "A calendar counts only with \"count working hours only\"."})


class Breach(models.Model):
    """One object that stayed in a rule's state too long, from one entry into that state: opened (and staff alerted,
    once) when found, closed when the object moves on. Entering the state again later is another breach."""

    rule = models.ForeignKey(TimeInStateRule, on_delete=models.CASCADE, related_name="breaches", db_index=False)
    state = models.CharField(max_length=64, help_text="The rule's state when the breach was found.")
    object_id = models.BigIntegerField()
    label = models.CharField(max_length=200, help_text="The object, in words, when the breach was found.")
    entered_at = models.DateTimeField(help_text="When the object entered the state.")
    due_at = models.DateTimeField(help_text="When it should have moved on.")
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When the object was found to have moved on.")

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = "time-in-state breach"
        verbose_name_plural = "time-in-state breaches"
        constraints = [
            # one breach (and so one alert) per rule, object and entry into the state, however many runs find it
            models.UniqueConstraint(fields=["rule", "object_id", "entered_at"], name="breach_unique_entry"),
            # an object is in one entry of a state at a time
            models.UniqueConstraint(fields=["rule", "object_id"], condition=Q(closed_at__isnull=True),
                                    name="breach_one_open_per_object"),
            models.CheckConstraint(condition=Q(closed_at__isnull=True) | Q(closed_at__gte=models.F("opened_at")),
                                   name="breach_closed_after_opened"),
        ]
        indexes = [
            # the open breaches, the longest overdue first (the page and the dashboard's fragment)
            models.Index(fields=["due_at", "id"], condition=Q(closed_at__isnull=True), name="breach_open_due"),
        ]

    def __str__(self) -> str:
        return f"{self.label} · {self.rule}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def link(self) -> str:
        """The object's page in the admin (no query)."""
        from .time_in_state.states import STATES

        state = STATES.get(self.state)
        return state.link(self.object_id) if state else ""

    @property
    def state_label(self) -> str:
        from .time_in_state.states import STATES

        state = STATES.get(self.state)
        return state.label if state else self.state


class OpenBreach(Breach):
    """The admin index's link to the staff page of open breaches (/analytics/breaches/); no table of its own."""

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "open breach"
        verbose_name_plural = "open breaches (time in state)"


# The dashboard's rollup tables live in their own module (analytics/facts.py).
from .facts import *  # noqa: E402, F401, F403
