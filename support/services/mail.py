"""Email in and out.

Out: a ticket's emails carry a reply-to address with the ticket's number and a signature,
support+TK-ABCD-EFGH.<signature>@example.com, so the customer's answer finds its ticket and nobody can write
onto another person's ticket by guessing numbers.

In: raw MIME (from the signed HTTP endpoint, or a Maildir or IMAP mailbox through `manage.py support_fetch_mail`)
is parsed with the standard library's `email` package (policy=default). A reply with a valid token lands on its
ticket with quoted text and signatures cut off; a new email opens a ticket (linked to the order it names, when
that order is the sender's); bounces and automatic replies are logged and change nothing; a forged token is
refused. Every email is logged in InboundEmail, once per Message-ID.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from django.conf import settings
from django.utils.html import strip_tags

from ..models import InboundEmail, Ticket

TOKEN = re.compile(r"\+(TK-[A-Z0-9]{4}-[A-Z0-9]{4})\.([a-f0-9]{16})@", re.IGNORECASE)
ORDER_NUMBER = re.compile(r"\bWB-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}\b", re.IGNORECASE)
MAX_BYTES = 10 * 1024 * 1024


def _signature(ticket_number: str, reply_token: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"support-reply:{ticket_number}:{reply_token}".encode(), hashlib.sha256).hexdigest()[:16]


def reply_address(ticket: Ticket) -> str:
    local, _, domain = settings.WAYBILL_SUPPORT_EMAIL.partition("@")
    return f"{local}+{ticket.number}.{_signature(ticket.number, ticket.reply_token)}@{domain}"


def inbound_signature_valid(body: bytes, header: str) -> bool:
    """The HMAC-SHA256 a mail relay sends with each message it posts (WAYBILL_INBOUND_EMAIL_SECRET)."""
    secret = settings.WAYBILL_INBOUND_EMAIL_SECRET
    if not secret or not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip().removeprefix("sha256="))


# --- reading a message ------------------------------------------------------------------------------------------

AUTO_SUBJECTS = re.compile(r"^\s*(auto(matic)?[ -]?(reply|response)|out of (the )?office|abwesenheit|"
                           r"absence|automatische antwort)", re.IGNORECASE)
QUOTE_HEADERS = [
    re.compile(r"^\s*On .{0,200}wrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am .{0,200}schrieb.{0,100}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*(From|Von):\s.+$", re.IGNORECASE),
    re.compile(r"^_{10,}\s*$"),
]
SIGNATURE_LINES = [re.compile(r"^-- ?$"), re.compile(r"^Sent from my \w+", re.IGNORECASE),
                   re.compile(r"^Von meinem \w+ gesendet", re.IGNORECASE)]


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def is_bounce(message: EmailMessage) -> bool:
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    content_type = message.get_content_type()
    report = message.get_param("report-type", header="content-type") or ""
    return (content_type == "multipart/report" and str(report).lower() == "delivery-status") or \
        sender.split("@")[0] in ("mailer-daemon", "postmaster") or str(message.get("Return-Path", "")).strip() == "<>"


def is_auto_reply(message: EmailMessage) -> bool:
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return auto not in ("", "no") or precedence in ("bulk", "junk", "list", "auto_reply") or any(
        message.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")) or bool(
        AUTO_SUBJECTS.match(str(message.get("Subject", ""))))


def text_of(message: EmailMessage) -> str:
    """The message's words: the plain-text part, or the HTML part without its tags."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        content = strip_tags(re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content))
    return content


def reply_text(text: str) -> str:
    """What the customer wrote now: quoted earlier messages (lines starting with ">", an "On ... wrote:" header,
    a forwarded block) and the signature are cut off."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        two = f"{stripped} {lines[i + 1].strip()}" if i + 1 < len(lines) else stripped
        if stripped.startswith(">") or any(p.match(stripped) or p.match(two) for p in QUOTE_HEADERS):
            break
        if any(p.match(stripped) for p in SIGNATURE_LINES):
            break
        kept.append(line)
    cleaned = "\n".join(kept).strip()
    cleaned = "".join(c for c in cleaned if c in "\n\t" or ord(c) >= 32)
    return cleaned or text.strip()[:20_000]


def ticket_for_token(message: EmailMessage) -> tuple[Ticket | None, bool]:
    """(the ticket a reply-to token names, whether a token was there at all). A token whose signature does not
    match gives (None, True): forged or mangled."""
    addresses = " ".join(f"<{addr}>" for _, addr in getaddresses(
        [str(v) for h in ("To", "Cc", "Delivered-To", "X-Original-To") for v in message.get_all(h, [])]))
    match = TOKEN.search(addresses)
    if match is None:
        return None, False
    number, signature = match.group(1).upper(), match.group(2).lower()
    ticket = Ticket.objects.filter(number=number).first()
    if ticket is None or not hmac.compare_digest(_signature(number, ticket.reply_token), signature):
        return None, True
    return ticket, True


def log(*, message_id: str, sender: str, subject: str, outcome: str, size: int, ticket=None,
        detail: str = "") -> InboundEmail:
    return InboundEmail.objects.create(message_id=message_id[:255], sender=sender[:254], subject=subject[:200],
                                       outcome=outcome, size=size, ticket=ticket, detail=detail[:255])


def order_number_in(*texts: str) -> str:
    for text in texts:
        found = ORDER_NUMBER.search(text or "")
        if found:
            return found.group(0).upper()
    return ""
