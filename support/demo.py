"""Demo tickets for `seed_demo`: one in every state, with conversations (customer messages, agent replies,
internal notes), SLA targets met and breached, and the demo customer's phone story: the email about the faulty
phone, the advance replacement, solved when the new phone was delivered. Made through support.services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from orders.models import Order

from .models import Message, Ticket, TicketEvent
from .services import (
    ticket_customer_reply,
    ticket_merge,
    ticket_open,
    ticket_reply,
    ticket_transition,
)


@dataclass(frozen=True)
class Story:
    subject: str
    body: str
    steps: tuple[str, ...] = ()
    category: str = "other"
    priority: str = "normal"
    channel: str = "email"
    hours_ago: float = 2


STORIES = [
    Story("Where is my parcel?", "I ordered last week and nothing has arrived yet.", category="delivery",
          hours_ago=30),
    Story("Which charger fits my phone?", "Does the 30 W charger work with my phone?",
          ("reply:Yes, it does, and it charges it in about an hour.", "customer:Great, and the cable?"),
          channel="portal"),
    Story("The box was damaged", "The box arrived crushed; the phone seems fine.",
          ("reply:Sorry about that! Could you send us a photo of the box?",), category="delivery"),
    Story("Invoice with my company name", "Please put my company name on the invoice.",
          ("note:Billing can reissue invoices on Tuesdays.", "reply:Done: the new invoice is attached to your "
           "order page.", "solve"), category="billing", hours_ago=20),
    Story("Change my address", "I moved: please send it to my new address.",
          ("reply:We changed it before the parcel left.", "solve", "close"), hours_ago=200),
    Story("Where is my parcel? (again)", "Still nothing.", ("merge",), category="delivery", hours_ago=26),
    Story("Screen cracked on arrival", "The screen was cracked when I opened the box.",
          ("note:Third cracked screen from this carrier this week.",), category="defect", priority="high",
          hours_ago=52),
]


class TicketSeeder:
    def __init__(self, command, *, people: list, users: dict):
        self.command, self.people, self.users = command, people, users

    def run(self) -> int:
        agent = self.users["support"]
        first = None
        for story in STORIES:
            customer = self.command.rng.choice(self.people)
            order = Order.objects.filter(customer=customer).order_by("-placed_at").first()
            ticket = ticket_open(subject=story.subject, body=story.body, customer=customer, order=order,
                                 category=story.category, priority=story.priority, channel=story.channel,
                                 notify=False)
            first = first or ticket
            for step in story.steps:
                kind, _, text = step.partition(":")
                if kind in ("reply", "note"):
                    ticket_reply(ticket=ticket.number, author=agent, body=text, internal=kind == "note",
                                 then="waiting" if kind == "reply" else None, check_permission=False)
                elif kind == "customer":
                    ticket_customer_reply(ticket=ticket.number, body=text, customer=customer)
                elif kind in ("solve", "close"):
                    ticket_transition(ticket=ticket.number, name=kind, actor=agent, check_permission=False)
                elif kind == "merge":
                    Ticket.objects.filter(pk=ticket.pk).update(customer=first.customer, email=first.email)
                    ticket_merge(ticket=ticket.number, into=first.number, actor=agent)
            self._backdate(ticket, hours=story.hours_ago)
        return len(STORIES) + self._phone_story(agent)

    def _phone_story(self, agent) -> int:
        """The demo customer's email about the faulty phone, linked to the advance replacement of returns.demo."""
        from returns.models import ReturnRequest

        rr = (ReturnRequest.objects.filter(customer=self.users["customer"], handling="advance_replacement",
                                           status="closed").select_related("order").first())
        if rr is None:
            return 0
        line = rr.lines.select_related("unit").first()
        ticket = ticket_open(subject="My new phone's screen flickers", body="The screen flickers and goes black "
                             "after a few minutes. Can you help?", customer=self.users["customer"], order=rr.order,
                             order_line=line.order_line_id, serial=line.serial, category="defect",
                             channel="email", notify=False)
        ticket_reply(ticket=ticket.number, author=agent, body="We are sorry! A new phone leaves today; please send "
                     "the faulty one back with the label we emailed you.", then="open", check_permission=False)
        Ticket.objects.filter(pk=ticket.pk).update(return_request=rr)
        ticket_transition(ticket=ticket.number, name="solve", actor=agent, check_permission=False,
                          text="Solved: the replacement was delivered.")
        return 1

    @staticmethod
    def _backdate(ticket: Ticket, *, hours: float) -> None:
        """Opened `hours` ago: the ticket, its due times, its messages and timeline move back together (so some
        targets are met and some breached)."""
        shift = timedelta(hours=hours)
        now = timezone.now()
        Ticket.objects.filter(pk=ticket.pk).update(
            created_at=F("created_at") - shift,
            first_response_due=F("first_response_due") - shift, resolution_due=F("resolution_due") - shift)
        for model in (Message, TicketEvent):
            rows = list(model.objects.filter(ticket=ticket).order_by("pk"))
            for i, row in enumerate(rows):
                model.objects.filter(pk=row.pk).update(created_at=min(now - shift + timedelta(minutes=40 * i), now))
