"""Inbound email becomes conversation: one service for every source (the signed endpoint, a Maildir, IMAP)."""

from __future__ import annotations

from email.utils import parseaddr

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError

from config.db import atomic_service
from config.errors import DomainError
from orders.models import Order

from ..models import InboundEmail, Message, Ticket
from . import mail
from .attachments import sniff
from .tickets import customer_for_email, ticket_customer_reply, ticket_open

OUTCOME = InboundEmail.Outcome


def _attachments(message) -> list:
    files = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True) or b""
        if payload and sniff(payload[:16]) is not None:
            files.append(SimpleUploadedFile(part.get_filename() or "attachment", payload,
                                            content_type=part.get_content_type()))
    return files[:5]


@atomic_service
def _receive(raw: bytes) -> InboundEmail:
    size = len(raw)
    try:
        message = mail.parse(raw)
    except Exception as exc:  # noqa: BLE001 - the parser's errors are not one class; an unreadable email is logged
        return mail.log(message_id="", sender="", subject="", outcome=OUTCOME.REFUSED, size=size, detail=str(exc))
    message_id = str(message.get("Message-ID", "")).strip()
    sender = parseaddr(str(message.get("From", "")))[1].strip()
    subject = " ".join(str(message.get("Subject", "")).split())[:200]
    common = {"message_id": message_id, "sender": sender, "subject": subject, "size": size}
    if message_id and (InboundEmail.objects.filter(message_id=message_id).exclude(outcome=OUTCOME.REFUSED).exists()
                       or Message.objects.filter(email_message_id=message_id[:255]).exists()):
        return mail.log(outcome=OUTCOME.DUPLICATE, **common)
    if mail.is_bounce(message):
        return mail.log(outcome=OUTCOME.BOUNCE, **common)
    if mail.is_auto_reply(message):
        return mail.log(outcome=OUTCOME.AUTO_REPLY, **common)
    if not sender or "@" not in sender:
        return mail.log(outcome=OUTCOME.REFUSED, detail="No sender address.", **common)
    body = mail.reply_text(mail.text_of(message))
    files = _attachments(message)
    ticket, had_token = mail.ticket_for_token(message)
    if had_token and ticket is None:
        return mail.log(outcome=OUTCOME.REFUSED, detail="The reply-to token does not match any ticket.", **common)
    try:
        if ticket is not None:
            if sender.lower() != ticket.email.lower() and not (
                    ticket.customer_id and sender.lower() == (ticket.customer.email or "").lower()):
                return mail.log(outcome=OUTCOME.REFUSED, ticket=ticket, detail="Sender is not the ticket's customer.",
                                **common)
            on, _ = ticket_customer_reply(ticket=ticket, body=body or "(no text)", customer=ticket.customer,
                                          source=Message.Source.EMAIL, attachments=files,
                                          email_message_id=message_id)
            return mail.log(outcome=OUTCOME.THREADED, ticket=on, **common)
        customer = customer_for_email(sender)
        number = mail.order_number_in(subject, body)
        order = None
        if number:
            order = Order.objects.filter(number=number).first()
            mine = order is not None and ((customer is not None and order.customer_id == customer.pk)
                                          or order.email.lower() == sender.lower())
            order = order if mine else None
        name = parseaddr(str(message.get("From", "")))[0]
        opened = ticket_open(subject=subject or "(no subject)", body=body or "(no text)", email=sender,
                             customer=customer, name=name, channel=Ticket.Channel.EMAIL, order=order,
                             attachments=files, email_message_id=message_id)
        return mail.log(outcome=OUTCOME.OPENED, ticket=opened, **common)
    except DomainError as err:
        return mail.log(outcome=OUTCOME.REFUSED, detail=err.message, **common)


def inbound_email_receive(*, raw: bytes) -> InboundEmail:
    """File one raw email (RFC 5322 bytes). Idempotent per Message-ID: the same email twice is logged as a
    duplicate and changes nothing."""
    if len(raw) > mail.MAX_BYTES:
        return mail.log(message_id="", sender="", subject="", outcome=OUTCOME.REFUSED, size=len(raw),
                        detail=f"Larger than {mail.MAX_BYTES // (1024 * 1024)} MB.")
    try:
        return _receive(raw)
    except IntegrityError:
        # the same Message-ID arrived twice at once: the unique index on messages kept one
        message_id = str(mail.parse(raw).get("Message-ID", "")).strip()
        return mail.log(message_id=message_id, sender="", subject="", outcome=OUTCOME.DUPLICATE, size=len(raw))
