"""Every write to support: tickets and their conversation (`tickets`), SLA clocks and alerts (`sla`), the case
around a ticket (`case`), email in and out (`mail`, `inbound`), attachments. Import from here."""

from .case import case_pending, ticket_start_return
from .inbound import inbound_email_receive
from .mail import reply_address
from .sla import sla_alert, sla_alert_payload, sla_alert_title, ticket_record_sla_breach
from .tickets import (
    canned_reply_render,
    ticket_assign,
    ticket_close_solved,
    ticket_customer_reply,
    ticket_merge,
    ticket_open,
    ticket_reply,
    ticket_set_priority,
    ticket_transition,
    tickets_attach_customer,
)

__all__ = [
    "canned_reply_render", "case_pending", "inbound_email_receive", "reply_address", "sla_alert", "sla_alert_payload",
    "sla_alert_title", "ticket_assign", "ticket_close_solved", "ticket_customer_reply", "ticket_merge", "ticket_open",
    "ticket_record_sla_breach", "ticket_reply", "ticket_set_priority", "ticket_start_return", "ticket_transition",
    "tickets_attach_customer",
]
