"""After-sales writes at a million orders: returns and claims created through the API, and ticket replies.

Both run in this process through Django's test client (no network, no gunicorn), one request after another, with
token authentication and a fresh Idempotency-Key per request, exactly as a shop's integration or a support tool
calls the API. Every answer must be 201. Reported: p50/p95/p99 latency, requests per second for one client, and
the query count of one request (the same whatever the order, or the figure is not honest).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from .stats import latency_ms

RECENT_DAYS = 25  # delivered this recently: still inside the 30-day return window


def _token(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


def _post(client: Client, path: str, body: dict, token: str):
    return client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}",
                       HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def _timed(client: Client, calls: list[tuple[str, dict, str]]) -> dict:
    """POST each (path, body, token); every answer must be 201. The first warms caches (content types, templates)
    and is not timed; the second's queries are counted."""
    latencies, queries = [], None
    for i, (path, body, token) in enumerate(calls):
        t = time.perf_counter()
        if i == 1:
            with CaptureQueriesContext(connection) as ctx:
                response = _post(client, path, body, token)
            queries = len(ctx.captured_queries)
        else:
            response = _post(client, path, body, token)
        if i:
            latencies.append(time.perf_counter() - t)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.content[:400]!r}")
    return {**latency_ms(latencies), "per_s": round(len(latencies) / sum(latencies), 1) if latencies else None,
            "queries": queries, "requests": len(latencies)}


def _return_candidates(n: int) -> list[tuple]:
    """(customer id, order number, line id) of recently delivered orders without a return: a non-serial line each."""
    from orders.models import Order, OrderLine
    from returns.models import ReturnRequest

    since = timezone.now() - timedelta(days=RECENT_DAYS)
    orders = list(
        Order.objects.filter(status=Order.Status.DELIVERED, customer__isnull=False, updated_at__gte=since)
        .filter(~Exists(ReturnRequest.objects.filter(order=OuterRef("pk"))))
        .order_by("-updated_at").values_list("pk", "number", "customer_id")[: 4 * n]
    )
    random.Random(23).shuffle(orders)
    lines = dict(OrderLine.objects.filter(order_id__in=[o[0] for o in orders], product__serial_tracked=False,
                                          shipped_quantity__gt=0, returned_quantity=0)
                 .order_by("order_id", "pk").values_list("order_id", "pk"))
    return [(customer, number, lines[pk]) for pk, number, customer in orders if pk in lines][:n]


def _claim_candidates(n: int, taken: set[str]) -> list[tuple]:
    """(customer id, order number, line id, serial) of delivered serial-tracked units (the defect guarantee)."""
    from returns.models import ReturnRequest
    from shipping.models import ShipmentUnit

    r = random.Random(29)
    top = ShipmentUnit.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rows = list(
        ShipmentUnit.objects.filter(pk__in=[r.randint(1, top) for _ in range(8 * n)],
                                    shipment__status="delivered", shipment__order__customer__isnull=False,
                                    line__order_line__returned_quantity=0)
        .filter(~Exists(ReturnRequest.objects.filter(order=OuterRef("shipment__order"))))
        .values_list("shipment__order__customer_id", "shipment__order__number", "line__order_line_id",
                     "unit__serial")
    )
    seen, out = set(taken), []
    for customer, number, line, serial in rows:
        if number not in seen:  # one claim per order: the lines stay independent
            seen.add(number)
            out.append((customer, number, line, serial))
    return out[:n]


def return_creation(*, n: int) -> dict:
    """n returns (a change of mind, 30-day window) and n defect claims (a serial-tracked unit) over the API."""
    User = get_user_model()
    returns = _return_candidates(n)
    claims = _claim_candidates(n, {number for _, number, _ in returns})
    if len(returns) < min(n, 2) or len(claims) < min(n, 2):
        raise RuntimeError(f"the seed has too few returnable orders ({len(returns)}) or units ({len(claims)})")
    tokens = {c: _token(User(pk=c)) for c in {row[0] for row in returns + claims}}
    client = Client()
    return_calls = [("/api/returns/", {"order": number, "resolution": "refund", "lines": [
        {"line": line, "quantity": 1, "reason": "no_longer_wanted"}]}, tokens[customer])
        for customer, number, line in returns]
    claim_calls = [("/api/returns/", {"order": number, "resolution": "replacement", "lines": [
        {"line": line, "quantity": 1, "reason": "defective", "serial": serial,
         "description": "It no longer switches on."}]}, tokens[customer])
        for customer, number, line, serial in claims]
    return {"return": _timed(client, return_calls), "claim": _timed(client, claim_calls)}


def _agent():
    User = get_user_model()
    agent, created = User.objects.get_or_create(username="bench-agent", defaults={
        "is_staff": True, "email": "bench-agent@example.com"})
    if created:
        agent.groups.add(Group.objects.get(name="Support agents"))
    return agent


def ticket_replies(*, n: int) -> dict:
    """An agent's reply (emailed to the customer) and the customer's answer, on n tickets about n orders."""
    from orders.models import Order
    from support.services import ticket_open

    agent = _agent()
    r = random.Random(31)
    top = Order.objects.filter(pk__lt=10_000_000).order_by("-pk").values_list("pk", flat=True).first() or 1
    orders = list(Order.objects.filter(pk__in=[r.randint(1, top) for _ in range(4 * n)], customer__isnull=False)
                  .select_related("customer")[:n])
    tickets = [ticket_open(subject="Where is my parcel?", body="It has not arrived yet.", email=order.email,
                           customer=order.customer, order=order, notify=False) for order in orders]
    agent_token = _token(agent)
    customer_tokens = {t.customer_id: _token(t.customer) for t in tickets}
    client = Client()
    agent_calls = [(f"/api/tickets/{t.number}/messages/", {
        "body": "Thank you for writing. The parcel is with the courier and arrives tomorrow.", "then": "waiting"},
        agent_token) for t in tickets]
    customer_calls = [(f"/api/tickets/{t.number}/messages/", {"body": "Thank you, it has arrived."},
                       customer_tokens[t.customer_id]) for t in tickets]
    return {"agent": _timed(client, agent_calls), "customer": _timed(client, customer_calls)}
