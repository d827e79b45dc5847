"""The notification outbox: emit inside the caller's transaction, relay after commit, deliver exactly once.

    notification_emit       write an outbox row in the caller's transaction (public: shipping, returns, support)
    outbox_relay            the relay's pass: new outbox rows to Celery in batches (WAYBILL_OUTBOX_RELAY)
    outbox_publish          without the relay: hand a transaction's rows to Celery after its commit (fails fast
                            when the broker is down)
    outbox_fan_out          outbox row → one Notification per recipient and one WebhookDelivery per endpoint
    notification_send       send one email, once per row (claimed with a conditional UPDATE, the attempt recorded
                            before sending); a worker lost mid-send leaves it "uncertain": sent again later with
                            the same Message-ID, the one at-least-once case (docs/operations.md)
    outbox_sweep            the periodic relay: everything the fast path left behind (SKIP LOCKED)
    notification_mark_uncertain  claims of lost workers, after WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS
    notification_resend     staff: send again (admin action)
    notification_preference_set

Webhook delivery lives in notifications.webhooks.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import smtplib
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import NamedTuple

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F, Q
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils import timezone

from config import cte
from config.links import order_link

from . import queues, registry
from .models import Notification, NotificationPreference, OutboxMessage, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)


def claim_timeout() -> timedelta:
    """A "sending" claim older than this belongs to a worker that died: the send tasks' hard time limit is shorter
    (notifications.tasks), so no live worker can still be sending it."""
    return timedelta(seconds=settings.WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS)


def retry_delay(attempt: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with jitter: about base·2^(attempt-1), between half and the whole, capped."""
    base = settings.WAYBILL_NOTIFY_RETRY_BASE_SECONDS if base is None else base
    cap = settings.WAYBILL_NOTIFY_RETRY_MAX_SECONDS if cap is None else cap
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)


# --- Emit ------------------------------------------------------------------------------------------------
def _transaction_marker() -> uuid.UUID | None:
    """One value for every event the current transaction writes, on every database (SQLite too: the demo).

    The marker rides on a no-op `on_commit` callback of this transaction: Django drops that callback when the
    transaction (or the savepoint that registered it) rolls back and runs it on commit, so a marker found among
    the pending callbacks always belongs to the transaction that is open now, never to one that ended.
    """
    if not connection.in_atomic_block:
        return None
    for _savepoints, callback, _robust in connection.run_on_commit:
        marker = getattr(callback, "waybill_transaction_marker", None)
        if marker is not None:
            return marker

    def transaction_ended() -> None:
        pass

    transaction_ended.waybill_transaction_marker = uuid.uuid4()
    transaction.on_commit(transaction_ended)
    return transaction_ended.waybill_transaction_marker


def _contact(subject, customer, recipient: str):
    order = getattr(subject, "order", None)
    if customer is None:
        customer = getattr(subject, "customer", None) or getattr(order, "customer", None)
    if not recipient:
        recipient = (getattr(subject, "email", "") or getattr(order, "email", "")
                     or getattr(customer, "email", "") or "")
    return customer, recipient


_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("waybill_notifications_quiet", default=False)


@contextlib.contextmanager
def notifications_quiet():
    """Record nothing while importing the past (the demo's history): nobody is told about events long gone."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


_ON_KEY_CONFLICT = 'ON CONFLICT ("idempotency_key") DO UPDATE SET "idempotency_key" = EXCLUDED."idempotency_key"'


def notification_emit(*, event: str, payload: dict, idempotency_key: str, subject=None, customer=None,
                      recipient: str = "", staff_recipients: Sequence[str] | None = None) -> OutboxMessage | None:
    """Record that `event` happened, in the caller's transaction. Call it inside the transaction that makes the
    change: if that rolls back, nothing is sent; once it commits, every recipient gets it exactly once.

    `subject` is the object the event is about (an order, a shipment, a return...). The customer and the contact
    address come from it (`subject.customer` / `subject.email`, or those of `subject.order`) unless given.
    The same `idempotency_key` twice records the event once. See notifications.registry for events and payloads.
    A staff alert goes to `staff_recipients` when given (even none), else to WAYBILL_STAFF_ALERT_EMAILS.
    """
    spec = registry.get_event(event)
    if _quiet.get():
        return None
    customer, recipient = _contact(subject, customer, recipient)
    # With the relay (WAYBILL_OUTBOX_RELAY), the row waits for it: this transaction does no broker work. Without,
    # it is written as already taken by this transaction's fast path (outbox_publish, after commit), which clears
    # the mark only if it cannot reach the broker: the common case costs no second write. Should the process die
    # between commit and publish, the sweep takes the row once WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS pass.
    relayed = settings.WAYBILL_OUTBOX_RELAY
    message = OutboxMessage(
        event=event, idempotency_key=idempotency_key, payload=payload, customer=customer, recipient=recipient,
        dispatched_at=None if relayed else timezone.now(),
        staff_recipients=list(dict.fromkeys(staff_recipients)) if staff_recipients is not None else None,
    )
    if subject is not None and getattr(subject, "pk", None) is not None:
        message.subject_type = ContentType.objects.get_for_model(subject)
        message.subject_id = str(subject.pk)
        message.subject_label = str(subject)[:200]
    superseded_by = registry.superseding(event)
    if (spec.supersedes or superseded_by) and message.subject_type_id:
        message.transaction_marker = _transaction_marker()
    if message.transaction_marker is not None:
        if cte.supported():
            cte.flush_riders()  # rows of this transaction still waiting to be written are read below
        same_transaction = OutboxMessage.objects.filter(
            transaction_marker=message.transaction_marker, subject_type=message.subject_type,
            subject_id=message.subject_id,
        )
        if superseded_by and same_transaction.filter(event__in=superseded_by).exists():
            message.suppressed_for_customer = True
        if spec.supersedes:
            same_transaction.filter(event__in=spec.supersedes).update(suppressed_for_customer=True)
    # One statement: INSERT ... ON CONFLICT (idempotency_key) DO UPDATE (a no-op) RETURNING id. A repeated key
    # keeps the first row, and publishing it again after commit is harmless: every delivery is idempotent.
    if cte.supported():  # the same statement, its text built once (every order writes one: bulk_create costs more);
        # in a cte.riding() block (an order's placement) it rides on the caller's next statement
        cte.insert_soon(cte.Rows("m", OutboxMessage, [message], on_conflict=_ON_KEY_CONFLICT))
    else:
        (message,) = OutboxMessage.objects.bulk_create(
            [message], update_conflicts=True, unique_fields=["idempotency_key"], update_fields=["idempotency_key"],
        )
    if not relayed:
        queue = queues.for_event(event)
        transaction.on_commit(lambda: outbox_publish(outbox_ids=[message.pk], queue=queue))
    return message


# --- Relay -----------------------------------------------------------------------------------------------
def publish_task(task, *, args: list, countdown: float | None = None, queue: str | None = None) -> bool:
    """Put a task on the broker without waiting for a broker that is down. False (and a log line) on failure.

    `queue` overrides the task's route (notifications.queues: by audience). Without a broker (embedded mode,
    CELERY_TASK_ALWAYS_EAGER) the task runs here, in-process.
    """
    from config.celery import app

    try:
        if app.conf.task_always_eager:
            task.apply(args=args)
            return True
        with _fail_fast_pool(app).acquire(block=True, timeout=1) as conn:
            try:
                options = {"queue": queue} if queue else {}
                task.apply_async(args=args, countdown=countdown, connection=conn, retry=False, **options)
            except Exception:
                conn.close()  # the next user of this pooled connection reconnects from scratch
                raise
        return True
    except Exception as exc:  # noqa: BLE001 - the outbox row stays; the sweep sends it later
        logger.warning("could not hand %s%s to the task queue: %s", task.name, args, exc)
        return False


_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


def _fail_fast_pool(app):
    """Broker connections that give up at once (max_retries=0) instead of retrying for seconds like the
    default pool: a request must never wait for a broker that is down. One pool per broker URL and transport
    options (a key prefix, timeouts): a pool made for other options must never be handed out."""
    url = app.conf.broker_write_url or app.conf.broker_url
    options = {**(app.conf.broker_transport_options or {}), "max_retries": 0}
    key = (url, tuple(sorted((name, repr(value)) for name, value in options.items())))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            connection = app.connection_for_write(url, transport_options=options)
            pool = _pools[key] = connection.Pool(limit=app.conf.broker_pool_limit or 10)
    return pool


def publish_pools_reset() -> None:
    """Close every pooled broker connection (after the broker settings changed, or the broker moved)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        with contextlib.suppress(Exception):
            pool.force_close_all()


def outbox_publish(*, outbox_ids: list[int], queue: str | None = None, batch: int = 1) -> int:
    """Hand outbox rows to the workers, on `queue` (notifications.queues.for_event of their event): one task per row
    (the fast path after a commit, the sweep), or `batch` rows per task (the relay). Never raises; returns how many
    went. Rows whose task the broker did not take are given back at once (the relay's next pass or the sweep takes
    them) rather than after the redispatch delay."""
    from .tasks import outbox_process_task

    for start in range(0, len(outbox_ids), batch):
        chunk = outbox_ids[start:start + batch]
        if not publish_task(outbox_process_task, args=[chunk if batch > 1 else chunk[0]], queue=queue):
            unsent = outbox_ids[start:]
            try:
                OutboxMessage.objects.filter(pk__in=unsent, processed_at__isnull=True).update(dispatched_at=None)
            except Exception:  # noqa: BLE001 - the sweep still takes them after the redispatch delay
                logger.exception("could not return outbox rows %s to the sweep", unsent)
            return start
    return len(outbox_ids)


def _by_queue(rows) -> dict[str, list[int]]:
    """(outbox id, event) pairs grouped by the queue that fans their events out, ids in order."""
    grouped: dict[str, list[int]] = {}
    for outbox_id, event in sorted(rows):
        grouped.setdefault(queues.for_event(event), []).append(outbox_id)
    return grouped


_CLAIM_NEW_ROWS = """
    UPDATE {table} SET dispatched_at = %s
     WHERE id IN (SELECT id FROM {table} WHERE dispatched_at IS NULL AND processed_at IS NULL
                   ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING id, event"""


class RelayPass(NamedTuple):
    claimed: int  # rows taken
    sent: int  # rows handed to the workers (fewer when the broker is away: the rest were given back)


def outbox_relay(*, limit: int | None = None, batch: int | None = None) -> RelayPass:
    """The relay's one pass (`manage.py outbox_relay` runs it in a loop): claim up to `limit` outbox rows that
    nobody handed over yet and hand them to the workers, `batch` rows per task on their event's queue.

    The claim is one statement (the partial index outbox_undispatched; SKIP LOCKED, so two relays never take the
    same row). Rows whose task could not be published are given back at once (outbox_publish); should the process
    die between the claim and the publish, the sweep takes them after WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS."""
    limit = limit or settings.WAYBILL_OUTBOX_RELAY_LIMIT
    batch = batch or settings.WAYBILL_OUTBOX_RELAY_BATCH
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_NEW_ROWS.format(table=connection.ops.quote_name(OutboxMessage._meta.db_table)),
                       [timezone.now(), limit])
        rows = cursor.fetchall()
    sent = sum(outbox_publish(outbox_ids=ids, queue=queue, batch=batch) for queue, ids in _by_queue(rows).items())
    return RelayPass(len(rows), sent)


RELAY_HEARTBEAT_KEY = "waybill:outbox-relay:heartbeat"


def outbox_relay_heartbeat() -> None:
    """The relay is alive (notifications.health.OutboxRelay reads it)."""
    from django.core.cache import cache

    cache.set(RELAY_HEARTBEAT_KEY, timezone.now().timestamp(), timeout=24 * 60 * 60)


def _customer_notification(message: OutboxMessage, spec: registry.EventSpec) -> list[Notification]:
    if message.suppressed_for_customer or not message.recipient:
        return []
    status = Notification.Status.PENDING
    if not spec.essential and message.customer_id:
        opted_out = NotificationPreference.objects.filter(user_id=message.customer_id,
                                                          non_essential_email=False).exists()
        if opted_out:
            status = Notification.Status.SKIPPED
    return [Notification(outbox=message, event=message.event, audience=Notification.Audience.CUSTOMER,
                         customer_id=message.customer_id, recipient=message.recipient, status=status)]


def _staff_notifications(message: OutboxMessage) -> list[Notification]:
    """Everyone on the staff alert list, or the addresses the alert was raised for (a time-in-state rule's)."""
    addresses = settings.WAYBILL_STAFF_ALERT_EMAILS if message.staff_recipients is None else message.staff_recipients
    return [
        Notification(outbox=message, event=message.event, audience=Notification.Audience.STAFF, recipient=address)
        for address in dict.fromkeys(addresses)
    ]


class FanOut(NamedTuple):
    notification_ids: list[int]  # emails still to send
    delivery_ids: list[int]  # webhook deliveries still to make
    queue: str  # where the emails are sent from (notifications.queues)


@transaction.atomic
def outbox_fan_out(*, outbox_id: int) -> FanOut:
    """Create the message's Notification and WebhookDelivery rows (once). Returns the ids still to send."""
    message = OutboxMessage.objects.select_for_update().filter(pk=outbox_id).first()
    if message is None:
        return FanOut([], [], queues.EMAIL)
    if message.processed_at is None:
        try:
            spec = registry.get_event(message.event)
        except registry.UnknownEvent:
            logger.error("outbox %s names unregistered event %s: webhooks only", message.pk, message.event)
            spec = registry.EventSpec(name=message.event, audience=registry.NONE)
        notifications = []
        if spec.audience == registry.CUSTOMER:
            notifications = _customer_notification(message, spec)
        elif spec.audience == registry.STAFF:
            notifications = _staff_notifications(message)
        Notification.objects.bulk_create(notifications, ignore_conflicts=True)
        endpoints = [e for e in WebhookEndpoint.objects.filter(active=True).order_by("pk") if e.wants(message.event)]
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(outbox=message, endpoint=e, event=message.event) for e in endpoints],
            ignore_conflicts=True,
        )
        message.processed_at = timezone.now()
        message.save(update_fields=["processed_at"])
    notification_ids = list(
        Notification.objects.filter(outbox=message, status=Notification.Status.PENDING).values_list("pk", flat=True)
    )
    delivery_ids = list(
        WebhookDelivery.objects.filter(outbox=message, status=WebhookDelivery.Status.PENDING)
        .values_list("pk", flat=True)
    )
    return FanOut(notification_ids, delivery_ids, queues.for_event(message.event))


# --- Send ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendResult:
    status: str  # "sent", "failed", "retrying", or "noop" when another run already has it
    retry_in: float | None = None
    queue: str = queues.EMAIL  # where a retry is sent from (notifications.queues.for_audience)


def _claimable(now):
    """Webhook deliveries a run may take: a stale claim is taken again (at least once: receivers dedupe on the
    Idempotency-Key header, the outbox message's uuid)."""
    return Q(status__in=["pending", "retrying"]) | Q(status="sending", claimed_at__lt=now - claim_timeout())


def _email_claimable(now):
    """Emails a run may take. A claim whose worker died is never taken as it is: the sweep first marks it
    uncertain (the mail server may have accepted it), and it is sent again, with the same Message-ID, only once
    WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS have passed."""
    return (Q(status__in=[Notification.Status.PENDING, Notification.Status.RETRYING])
            | Q(status=Notification.Status.UNCERTAIN, next_attempt_at__lte=now))


def message_id(notification: Notification) -> str:
    """The email's Message-ID, the same for every attempt of one notification, so that a copy sent again after
    an uncertain attempt can be recognised as the same message by the receiving servers and mail clients."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "waybill.localhost"
    return f"<notification-{notification.pk}.{notification.outbox.uuid}@{domain}>"


def render_email(notification: Notification) -> EmailMultiAlternatives:
    spec = registry.get_event(notification.event)
    names = spec.template_names()
    context = {
        **notification.outbox.payload,
        "event": notification.event,
        "recipient": notification.recipient,
        "customer": notification.customer,
        "site_url": settings.WAYBILL_SITE_URL.rstrip("/"),
        "event_description": spec.description,
    }
    number = notification.outbox.payload.get("order_number")
    if isinstance(number, str) and number:  # a link that opens the order, for guests too (config.links)
        context["order_link"] = order_link(number)
    subject = " ".join(render_to_string(names["subject"], context).split())
    headers = {"X-Waybill-Event": notification.event, "X-Waybill-Notification": str(notification.pk),
               "Message-ID": message_id(notification)}
    if notification.event in registry.AUTO_REPLIES:
        headers["Auto-Submitted"] = "auto-replied"
    reply_to = notification.outbox.payload.get("reply_to") if spec.audience == registry.CUSTOMER else None
    email = EmailMultiAlternatives(
        subject=subject, body=render_to_string(names["text"], context), to=[notification.recipient],
        headers=headers, reply_to=[reply_to] if isinstance(reply_to, str) and reply_to else None,
    )
    email.attach_alternative(render_to_string(names["html"], context), "text/html")
    return email


def _permanent_smtp_error(exc: Exception) -> bool:
    """A 5xx answer (no such mailbox, message refused): trying again would get the same answer. Timeouts, refused
    connections and 4xx answers are temporary and retried."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


def notification_send(*, notification_id: int) -> SendResult:
    """Send one notification. A second run for the same row (a redelivered task) sends nothing.

    The attempt is recorded (committed: "sending", claimed_at, attempts + 1) before the mail server is contacted,
    and the outcome after it answers. A worker that dies between the two leaves a "sending" row: outbox_sweep
    marks it uncertain once its claim is older than WAYBILL_NOTIFY_CLAIM_TIMEOUT_SECONDS.
    """
    now = timezone.now()
    claimed = Notification.objects.filter(_email_claimable(now), pk=notification_id).update(
        status=Notification.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1,
    )
    if not claimed:
        return SendResult("noop")
    notification = Notification.objects.select_related("outbox", "customer").get(pk=notification_id)
    rows = Notification.objects.filter(pk=notification_id, status=Notification.Status.SENDING)
    try:
        email = render_email(notification)
    except (TemplateDoesNotExist, TemplateSyntaxError, registry.UnknownEvent) as exc:
        rows.update(status=Notification.Status.FAILED, last_error=f"{type(exc).__name__}: {exc}", claimed_at=None)
        logger.error("notification %s cannot be rendered: %s", notification_id, exc)
        return SendResult("failed")
    try:
        email.send(fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - SMTP and backend errors of every kind are retried, but a 5xx
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if _permanent_smtp_error(exc):
            rows.update(status=Notification.Status.FAILED, last_error=error, claimed_at=None, next_attempt_at=None)
            logger.error("notification %s refused for good by the mail server: %s", notification_id, error)
            return SendResult("failed")
        if notification.attempts >= settings.WAYBILL_NOTIFY_MAX_ATTEMPTS:
            rows.update(status=Notification.Status.FAILED, last_error=error, claimed_at=None, next_attempt_at=None)
            logger.error("notification %s failed after %s attempts: %s", notification_id, notification.attempts, error)
            return SendResult("failed")
        delay = retry_delay(notification.attempts)
        rows.update(status=Notification.Status.RETRYING, last_error=error, claimed_at=None,
                    next_attempt_at=timezone.now() + timedelta(seconds=delay))
        logger.warning("notification %s: %s; retry in %.1fs", notification_id, error, delay)
        return SendResult("retrying", retry_in=delay, queue=queues.for_audience(notification.audience))
    rows.update(status=Notification.Status.SENT, sent_at=timezone.now(), subject=email.subject[:255],
                last_error="", claimed_at=None, next_attempt_at=None)
    return SendResult("sent")


# --- Sweep -----------------------------------------------------------------------------------------------
def outbox_sweep(*, grace_seconds: float = 5.0, limit: int = 500) -> dict[str, int]:
    """Hand to the workers whatever the fast path left behind: outbox rows not yet fanned out, notifications
    and webhook deliveries whose task was lost. Rows another sweep holds are skipped (SKIP LOCKED)."""
    from .tasks import notification_send_task
    from .webhooks import webhook_deliver_task

    now = timezone.now()
    cutoff = now - timedelta(seconds=grace_seconds)
    redispatch = now - timedelta(seconds=settings.WAYBILL_OUTBOX_REDISPATCH_AFTER_SECONDS)
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=redispatch),
                    processed_at__isnull=True, created_at__lte=cutoff)
            .order_by("pk").values_list("pk", "event")[:limit]
        )
        outbox_ids = [pk for pk, _ in rows]
        OutboxMessage.objects.filter(pk__in=outbox_ids).update(dispatched_at=now)
    counts = {"outbox": 0, "notifications": 0, "webhooks": 0, "uncertain": notification_mark_uncertain(now=now)}
    for queue, ids in _by_queue(rows).items():
        counts["outbox"] += outbox_publish(outbox_ids=ids, queue=queue)
    if counts["outbox"] < len(rows):  # the broker is away: the rest waits for the next sweep
        return counts

    lost = Q(status="pending", created_at__lte=cutoff) | Q(status="retrying", next_attempt_at__lte=cutoff)
    lost_email = lost | Q(status=Notification.Status.UNCERTAIN, next_attempt_at__lte=now)
    lost_webhook = lost | Q(status="sending", claimed_at__lt=now - claim_timeout())
    for model, condition, task, key, queue_of in (
        (Notification, lost_email, notification_send_task, "notifications", queues.for_audience),
        (WebhookDelivery, lost_webhook, webhook_deliver_task, "webhooks", lambda _: queues.WEBHOOKS),
    ):
        kind = "audience" if model is Notification else "event"
        with transaction.atomic():
            lost_rows = list(model.objects.select_for_update(skip_locked=True).filter(condition)
                             .order_by("pk").values_list("pk", kind)[:limit])
        for pk, value in lost_rows:
            if not publish_task(task, args=[pk], queue=queue_of(value)):
                return counts
            counts[key] += 1
    return counts


def notification_mark_uncertain(*, now=None) -> int:
    """Claims whose worker died mid-send become "uncertain": the mail server may or may not have accepted the
    email. They are sent again (same Message-ID) after WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS; until then staff
    see them in the admin. Returns how many were marked."""
    now = now or timezone.now()
    stale = Notification.objects.filter(status=Notification.Status.SENDING, claimed_at__lt=now - claim_timeout())
    count = stale.update(
        status=Notification.Status.UNCERTAIN,
        next_attempt_at=now + timedelta(seconds=settings.WAYBILL_NOTIFY_UNCERTAIN_RESEND_SECONDS),
        last_error="The worker sending it stopped before the outcome was recorded: the mail server may have "
                   "accepted it. It is sent again with the same Message-ID.",
    )
    if count:
        logger.warning("%s notification(s) left mid-send by a lost worker are now uncertain", count)
    return count


# --- Staff actions and preferences -----------------------------------------------------------------------
@transaction.atomic
def notification_resend(*, notification_ids: list[int]) -> int:
    """Send again (after a failure, or on a customer's request). Rows being sent right now are left alone."""
    from .tasks import notification_send_task

    rows = list(
        Notification.objects.select_for_update().filter(pk__in=notification_ids)
        .exclude(status=Notification.Status.SENDING).order_by("pk").values_list("pk", "audience")
    )
    ids = [pk for pk, _ in rows]
    Notification.objects.filter(pk__in=ids).update(
        status=Notification.Status.PENDING, attempts=0, last_error="", next_attempt_at=None, claimed_at=None,
    )
    transaction.on_commit(lambda: [publish_task(notification_send_task, args=[pk], queue=queues.for_audience(audience))
                                   for pk, audience in rows])
    return len(ids)


@transaction.atomic
def notification_preference_set(*, user, non_essential_email: bool) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
    preference.non_essential_email = non_essential_email
    preference.save(update_fields=["non_essential_email", "updated_at"])
    return preference
