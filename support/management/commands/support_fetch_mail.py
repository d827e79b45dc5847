"""`manage.py support_fetch_mail`: file the emails waiting in a Maildir or an IMAP mailbox onto tickets.

    manage.py support_fetch_mail --maildir /var/mail/support          # new messages; each moves to cur/ (seen)
    manage.py support_fetch_mail --imap imaps://user:password@imap.example.com/INBOX   # unseen; each flagged seen

Run it from cron or a systemd timer; every email is filed once (by Message-ID) whichever way it arrives.
"""

from __future__ import annotations

import imaplib
import mailbox
from collections import Counter
from urllib.parse import unquote, urlsplit

from django.core.management.base import BaseCommand, CommandError

from support.services import inbound_email_receive


class Command(BaseCommand):
    help = "File the emails waiting in a Maildir or IMAP mailbox onto support tickets."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--maildir", help="Path of a Maildir (new/ is read; filed messages move to cur/).")
        source.add_argument("--imap", help="imaps://user:password@host[:port]/MAILBOX (unseen messages).")
        parser.add_argument("--limit", type=int, default=500, help="At most this many messages per run.")

    def handle(self, *args, maildir=None, imap=None, limit=500, **options):
        outcomes = Counter(self._maildir(maildir, limit) if maildir else self._imap(imap, limit))
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items())) or "nothing new"
        self.stdout.write(f"Filed: {summary}.")

    def _maildir(self, path: str, limit: int):
        try:
            box = mailbox.Maildir(path, factory=None, create=False)
        except (OSError, mailbox.Error) as exc:
            raise CommandError(f"Cannot open the Maildir {path}: {exc}") from None
        for key in list(box.iterkeys())[:limit]:
            message = box.get_message(key)
            if message.get_subdir() != "new":
                continue
            yield inbound_email_receive(raw=box.get_bytes(key)).outcome
            message.set_subdir("cur")
            message.add_flag("S")
            box[key] = message

    def _imap(self, url: str, limit: int):
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise CommandError("Give the mailbox as imaps://user:password@host/MAILBOX.")
        client_class = imaplib.IMAP4_SSL if parts.scheme == "imaps" else imaplib.IMAP4
        try:
            client = client_class(parts.hostname, parts.port or (993 if parts.scheme == "imaps" else 143), timeout=30)
            client.login(unquote(parts.username or ""), unquote(parts.password or ""))
            client.select(parts.path.lstrip("/") or "INBOX")
            _, found = client.search(None, "UNSEEN")
        except (OSError, imaplib.IMAP4.error) as exc:
            raise CommandError(f"Cannot read {parts.hostname}: {exc}") from None
        try:
            for number in found[0].split()[:limit]:
                _, data = client.fetch(number, "(BODY.PEEK[])")
                raw = next((item[1] for item in data if isinstance(item, tuple)), None)
                if raw is None:
                    continue
                yield inbound_email_receive(raw=raw).outcome
                client.store(number, "+FLAGS", "\\Seen")
        finally:
            client.logout()
