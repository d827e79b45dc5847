"""Idempotency-Key for every state-changing API call, order creation included.

    return idempotent(request, lambda: Response(..., status=201))

The first request with a key claims it (INSERT ... ON CONFLICT DO NOTHING) in the transaction that does the work,
and stores the answer there, as it was sent. A retry with the same key and the same method, path and body gets
that answer again, the same status and the same body byte for byte, with `Idempotent-Replayed: true` (as Stripe
does); the same key with another request is a 422. A concurrent retry waits on the
key's unique index until the first commits, then replays. A request that fails rolls back its claim, so it can be
retried with the same key.

Order creation claims its key in the placement's own first statement (`idempotent(..., claimed_by_run=True)` and
a KeptAnswer given to order_place): one key, claimed once, in one transaction with no savepoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from .errors import IdempotencyKeyReused
from .models import IdempotentResponse

HEADER = "Idempotency-Key"


def _canonical(value) -> str:
    def default(obj):
        if hasattr(obj, "read") and hasattr(obj, "size"):  # an uploaded file: its name, size and content hash
            obj.seek(0)
            digest = hashlib.sha256(obj.read()).hexdigest()
            obj.seek(0)
            return f"file:{getattr(obj, 'name', '')}:{obj.size}:{digest}"
        return str(obj)

    if hasattr(value, "lists"):  # a QueryDict (form or multipart body)
        value = {k: v for k, v in value.lists()}
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=default)


def request_key(request) -> str:
    key = request.headers.get(HEADER, "").strip()
    if len(key) > 255:
        raise ValidationError({HEADER: ["At most 255 characters."]})
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise ValidationError({HEADER: ["No control characters."]})
    return key


def fingerprint(request) -> str:
    text = f"{request.method} {request.path}\n{_canonical(request.data)}"
    return hashlib.sha256(text.encode()).hexdigest()


def idempotent(request, run: Callable, *, reused_extra: Callable[[dict], dict] | None = None,
               claimed_by_run: bool = False) -> Response:
    """`run()` once per Idempotency-Key; `reused_extra(first answer's body)` adds facts to the 422 for a key reused
    with another request (order creation names the order).

    `claimed_by_run`: `run(kept)` is given a KeptAnswer (None without a key) for the service it calls to claim
    in its own transaction, and returns the response it kept there."""
    key = request_key(request)
    if not key or not request.user.is_authenticated:
        return run(None) if claimed_by_run else run()
    digest = fingerprint(request)
    if claimed_by_run:
        kept = KeptAnswer(owner=request.user, key=key, fingerprint=digest)
        try:
            return run(kept)
        except KeyTaken:
            return _earlier(request, key, digest, reused_extra)
    table = connection.ops.quote_name(IdempotentResponse._meta.db_table)
    qn = connection.ops.quote_name
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({qn('owner_id')}, {qn('key')}, {qn('fingerprint')}, {qn('status_code')}, "
                f"{qn('body')}, {qn('content')}, {qn('created_at')}) VALUES (%s, %s, %s, 0, %s, '', %s) "
                f"ON CONFLICT ({qn('owner_id')}, {qn('key')}) DO NOTHING RETURNING {qn('id')}",
                [request.user.pk, key, digest, "{}", connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            claimed = cursor.fetchone()
        if claimed is None:
            return _earlier(request, key, digest, reused_extra)
        return _keep(claimed[0], run())


def _earlier(request, key: str, digest: str, reused_extra) -> Response:
    """The answer to the request that took this key first, or the 422 if that was another request."""
    earlier = IdempotentResponse.objects.get(owner=request.user, key=key)
    if earlier.fingerprint != digest:
        extra = reused_extra(earlier.body) if reused_extra and isinstance(earlier.body, dict) else {}
        raise IdempotencyKeyReused("This Idempotency-Key was already used for another request. Use a new "
                                   "key for a new request.", key=key, **extra)
    return replay(earlier)


class KeptResponse(Response):
    """A response whose JSON was rendered once, to be kept: sent as those bytes when the client is answered in
    JSON (DRF's JSONRenderer, without an `indent`), instead of being rendered again."""

    kept: bytes = b""

    @property
    def rendered_content(self):
        renderer = getattr(self, "accepted_renderer", None)
        if self.kept and type(renderer) is JSONRenderer and ";" not in (self.accepted_media_type or ""):
            self.accepted_renderer = _Rendered(self.kept)
            try:
                return super().rendered_content
            finally:
                self.accepted_renderer = renderer
        return super().rendered_content


class _Rendered(JSONRenderer):
    def __init__(self, content: bytes):
        self.content = content

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return self.content


def _kept(response: Response) -> tuple[KeptResponse, str]:
    """The response to keep, with its JSON rendered once (as DRF's JSONRenderer renders it to a client)."""
    content = JSONRenderer().render(response.data) if response.data is not None else b""
    kept = KeptResponse(response.data, status=response.status_code)
    for name, value in response.items():
        kept[name] = value
    kept.kept = content
    return kept, content.decode()


def _keep_sql(pk: int, status_code: int, content: str) -> tuple[str, list]:
    """The UPDATE that stores an answer as sent (`content`, in its order) and as JSON (`body`, read by
    reused_extra): the text sent once and read as jsonb by PostgreSQL."""
    qn = connection.ops.quote_name
    return (f"UPDATE {qn(IdempotentResponse._meta.db_table)} SET {qn('status_code')} = %s, {qn('content')} = a.c, "
            f"{qn('body')} = CAST(coalesce(nullif(a.c, ''), '{{}}') AS jsonb) FROM (SELECT %s::text AS c) AS a "
            f"WHERE {qn('id')} = %s RETURNING {qn('id')}", [status_code, content, pk])


def _keep(pk: int, response: Response) -> KeptResponse:
    """Store the answer in one UPDATE; returns the response to send."""
    kept, content = _kept(response)
    if connection.vendor != "postgresql":
        IdempotentResponse.objects.filter(pk=pk).update(status_code=response.status_code, content=content,
                                                        body=json.loads(content) if content else {})
        return kept
    with connection.cursor() as cursor:
        cursor.execute(*_keep_sql(pk, response.status_code, content))
    return kept


class KeyTaken(Exception):
    """The request's Idempotency-Key was claimed before: nothing was done, the earlier answer is the answer."""


class KeptAnswer:
    """A request's Idempotency-Key, claimed and kept with its answer by the service that does the work, in its own
    transaction: `rows()` rides on its first statement (PostgreSQL; `claim()` elsewhere), `claimed(rows)` raises
    KeyTaken when the key was taken, `keep(response)` stores the answer before the commit."""

    def __init__(self, *, owner, key: str, fingerprint: str):
        self.owner, self.key, self.fingerprint = owner, key, fingerprint
        self.pk: int | None = None
        self.respond: Callable[[object], Response] | None = None
        self.response: Response | None = None

    def rows(self):
        from config import cte

        qn = connection.ops.quote_name
        row = IdempotentResponse(owner=self.owner, key=self.key, fingerprint=self.fingerprint, status_code=0,
                                 body={}, content="")
        return cte.Rows("claim", IdempotentResponse, [row],
                        on_conflict=f"ON CONFLICT ({qn('owner_id')}, {qn('key')}) DO NOTHING")

    def claimed(self, written: list[tuple]) -> None:
        if not written:
            raise KeyTaken(self.key)
        self.pk = written[0][0]

    def claim(self) -> None:
        table, qn = connection.ops.quote_name(IdempotentResponse._meta.db_table), connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({qn('owner_id')}, {qn('key')}, {qn('fingerprint')}, {qn('status_code')}, "
                f"{qn('body')}, {qn('content')}, {qn('created_at')}) VALUES (%s, %s, %s, 0, %s, '', %s) "
                f"ON CONFLICT ({qn('owner_id')}, {qn('key')}) DO NOTHING RETURNING {qn('id')}",
                [self.owner.pk, self.key, self.fingerprint, "{}",
                 connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            self.claimed(cursor.fetchall())

    def keep(self, result) -> None:
        """Answer with `respond(result)` (set by the caller), and keep that answer for a retry."""
        self.response = _keep(self.pk, self.respond(result))

    def keep_soon(self, result) -> None:
        """As keep(), with the UPDATE riding on the next statement of a config.cte.riding() block (PostgreSQL).
        Should `result` change before the transaction ends, keep() it again."""
        from config import cte

        self.response, content = _kept(self.respond(result))
        sql, params = _keep_sql(self.pk, self.response.status_code, content)
        cte.insert_soon(cte.Changed("kept", sql, params))


REPLAYED_HEADER = "Idempotent-Replayed"


def replay(earlier: IdempotentResponse) -> Response:
    """The first answer again: its status and its body in the order it was sent (JSON keeps it; jsonb does not)."""
    data = json.loads(earlier.content) if earlier.content else earlier.body
    return Response(data, status=earlier.status_code, headers={REPLAYED_HEADER: "true"})
