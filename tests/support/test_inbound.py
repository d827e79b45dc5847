"""Email in: a reply threads into its ticket without the quoted text, a new email opens a ticket linked to the
order it names, bounces and automatic replies open nothing, forged tokens and strangers are refused."""

from email.message import EmailMessage

import pytest

from support.models import InboundEmail, Ticket
from support.services import inbound_email_receive, reply_address, ticket_open, ticket_reply

pytestmark = pytest.mark.django_db
_ids = iter(range(1, 100_000))


def email(*, sender, to="support@waybill.localhost", subject="Hello", body="Hi", headers=None, html=None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<m{next(_ids)}@mail.example>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def test_an_email_from_a_customer_opens_a_ticket_linked_to_the_order_it_names(customer, delivered, agents):
    log = inbound_email_receive(raw=email(sender=f"Ada <{customer.email}>", subject=f"Problem with {delivered.number}",
                                          body="My phone does not charge.\n\n-- \nAda\nSent from my phone"))
    assert log.outcome == "opened"
    ticket = log.ticket
    assert (ticket.customer, ticket.order, ticket.channel) == (customer, delivered, "email")
    assert ticket.messages.get().body == "My phone does not charge."


def test_a_reply_threads_into_its_ticket_without_the_quote(customer, agents):
    ann, _ = agents
    ticket = ticket_open(subject="Q", body="Where?", customer=customer, notify=False)
    ticket_reply(ticket=ticket, author=ann, body="Which order?")
    body = ("It is WB-2345-6789, thanks!\n\nOn Mon, 7 Dec 2026 at 10:00, Waybill <support@waybill.localhost>\n"
            "wrote:\n> Which order?")
    log = inbound_email_receive(raw=email(sender=customer.email, to=reply_address(ticket), body=body,
                                          subject=f"Re: [{ticket.number}] Q"))
    assert (log.outcome, log.ticket) == ("threaded", ticket)
    assert ticket.messages.last().body == "It is WB-2345-6789, thanks!"
    assert Ticket.objects.get(pk=ticket.pk).status == "open"
    # the same email again changes nothing
    raw = email(sender=customer.email, to=reply_address(ticket), body="Again")
    assert inbound_email_receive(raw=raw).outcome == "threaded"
    assert inbound_email_receive(raw=raw).outcome == "duplicate"
    assert ticket.messages.count() == 4


def test_forged_tokens_and_strangers_are_refused(customer, agents):
    ticket = ticket_open(subject="Q", body="?", customer=customer, notify=False)
    forged = reply_address(ticket).replace(reply_address(ticket).split(".")[1][:16], "0" * 16)
    assert inbound_email_receive(raw=email(sender=customer.email, to=forged)).outcome == "refused"
    stranger = inbound_email_receive(raw=email(sender="mallory@example.net", to=reply_address(ticket)))
    assert stranger.outcome == "refused" and ticket.messages.count() == 1


@pytest.mark.parametrize("headers, sender, subject", [
    ({"Auto-Submitted": "auto-replied"}, "ada@example.com", "Re: your message"),
    ({"Precedence": "bulk"}, "news@example.com", "Newsletter"),
    ({}, "ada@example.com", "Out of office: back on Monday"),
    ({}, "MAILER-DAEMON@mx.example.com", "Undelivered Mail Returned to Sender"),
    ({"Return-Path": "<>"}, "bounces@example.com", "Delivery failure"),
])
def test_bounces_and_automatic_replies_open_nothing(agents, headers, sender, subject):
    log = inbound_email_receive(raw=email(sender=sender, subject=subject, headers=headers))
    assert log.outcome in ("bounce", "auto_reply") and not Ticket.objects.exists()


def test_html_only_and_unreadable_emails(agents):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "guest@example.com", "support@waybill.localhost", "Hi"
    message["Message-ID"] = "<html-only@mail.example>"
    message.set_content("<p>The <b>box</b> was open.</p><br>Kind regards", subtype="html")
    log = inbound_email_receive(raw=message.as_bytes())
    assert log.outcome == "opened" and log.ticket.messages.get().body.startswith("The box was open.")
    assert log.ticket.customer is None and log.ticket.email == "guest@example.com"
    garbage = inbound_email_receive(raw=b"\x00\x01 not an email at all")
    assert garbage.outcome == "refused"
    assert InboundEmail.objects.count() == 2


def test_the_maildir_command_files_new_mail_once(tmp_path, customer, agents):
    import mailbox

    from django.core.management import call_command

    box = mailbox.Maildir(tmp_path / "support", create=True)
    box.add(mailbox.MaildirMessage(email(sender=customer.email, subject="First", body="One")))
    box.add(mailbox.MaildirMessage(email(sender="MAILER-DAEMON@mx.example", subject="Undeliverable", body="x")))
    call_command("support_fetch_mail", "--maildir", str(tmp_path / "support"))
    assert Ticket.objects.count() == 1
    assert set(InboundEmail.objects.values_list("outcome", flat=True)) == {"opened", "bounce"}
    folder = tmp_path / "support"
    assert not list((folder / "new").iterdir()) and len(list((folder / "cur").iterdir())) == 2
    call_command("support_fetch_mail", "--maildir", str(tmp_path / "support"))  # nothing new
    assert InboundEmail.objects.count() == 2


class _Mailbox:
    """A tiny IMAP4rev1 server over a real socket: enough of LOGIN, SELECT, SEARCH UNSEEN, FETCH and STORE for
    `support_fetch_mail --imap` to talk to it as to a mail provider."""

    def __init__(self, messages: list[bytes]):
        import socket
        import threading

        self.messages, self.seen, self.logins = messages, set(), []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        connection, _ = self.server.accept()
        stream = connection.makefile("rwb")
        stream.write(b"* OK IMAP4rev1 ready\r\n")
        stream.flush()
        for line in stream:
            tag, command, *rest = line.decode().rstrip("\r\n").split(" ", 2)
            command, args = command.upper(), (rest[0] if rest else "")
            if command == "CAPABILITY":
                stream.write(b"* CAPABILITY IMAP4rev1\r\n")
            elif command == "LOGIN":
                self.logins.append(args)
            elif command == "SELECT":
                stream.write(f"* {len(self.messages)} EXISTS\r\n".encode())
            elif command == "SEARCH":
                unseen = " ".join(str(i + 1) for i in range(len(self.messages)) if i + 1 not in self.seen)
                stream.write(f"* SEARCH {unseen}\r\n".encode())
            elif command == "FETCH":
                number = int(args.split(" ")[0])
                body = self.messages[number - 1]
                stream.write(f"* {number} FETCH (BODY[] {{{len(body)}}}\r\n".encode() + body + b")\r\n")
            elif command == "STORE":
                self.seen.add(int(args.split(" ")[0]))
                stream.write(f"* {args.split(' ')[0]} FETCH (FLAGS (\\Seen))\r\n".encode())
            elif command == "LOGOUT":
                stream.write(b"* BYE\r\n" + f"{tag} OK LOGOUT completed\r\n".encode())
                stream.flush()
                break
            stream.write(f"{tag} OK {command} completed\r\n".encode())
            stream.flush()
        connection.close()
        self.server.close()


def test_the_imap_command_files_unseen_mail_and_marks_it_seen(customer, agents):
    from django.core.management import call_command

    box = _Mailbox([email(sender=customer.email, subject="From IMAP", body="Hello over IMAP")])
    call_command("support_fetch_mail", "--imap", f"imap://desk%40shop:p%40ss@127.0.0.1:{box.port}/INBOX")
    box.thread.join(timeout=10)
    assert box.logins == ['desk@shop "p@ss"']  # the URL's escaped user name and password
    assert box.seen == {1}
    assert Ticket.objects.get().messages.get().body == "Hello over IMAP"
