"""Idempotency-Key for every state-changing API call, order creation included.

    return idempotent(request, lambda: Response(..., status=201))

The first request with a key claims it (INSERT ... ON CONFLICT DO NOTHING) in the transaction that does the work,
and stores the answer there, as it was sent. A retry with the same key and the same method, path and body gets
that answer again, the same status and the same body byte for byte, with `Idempotent-Replayed: true` (as Stripe
does); the same key with another request is a 422. A concurrent retry waits on the
key's unique index until the first commits, then replays. A request that fails rolls back its claim, so it can be
retried with the same key.
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


def idempotent(request, run: Callable[[], Response], *,
               reused_extra: Callable[[dict], dict] | None = None) -> Response:
    """`run()` once per Idempotency-Key; `reused_extra(first answer's body)` adds facts to the 422 for a key reused
    with another request (order creation names the order)."""
    key = request_key(request)
    if not key or not request.user.is_authenticated:
        return run()
    digest = fingerprint(request)
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
            earlier = IdempotentResponse.objects.get(owner=request.user, key=key)
            if earlier.fingerprint != digest:
                extra = reused_extra(earlier.body) if reused_extra and isinstance(earlier.body, dict) else {}
                raise IdempotencyKeyReused("This Idempotency-Key was already used for another request. Use a new "
                                           "key for a new request.", key=key, **extra)
            return replay(earlier)
        response = run()
        content = JSONRenderer().render(response.data).decode() if response.data is not None else ""
        body = json.loads(content) if content else {}
        IdempotentResponse.objects.filter(pk=claimed[0]).update(status_code=response.status_code, body=body,
                                                                content=content)
        return response


REPLAYED_HEADER = "Idempotent-Replayed"


def replay(earlier: IdempotentResponse) -> Response:
    """The first answer again: its status and its body in the order it was sent (JSON keeps it; jsonb does not)."""
    data = json.loads(earlier.content) if earlier.content else earlier.body
    return Response(data, status=earlier.status_code, headers={REPLAYED_HEADER: "true"})
