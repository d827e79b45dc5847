"""What one worker process does during a run: place orders through the service the API uses."""

from __future__ import annotations

import random
import time
import uuid

from django.contrib.auth import get_user_model
from django.db import OperationalError

from config.errors import DomainError
from orders.apis import _fingerprint
from orders.services import order_place

ADDRESS = {"name": "Flash Sale Buyer", "line1": "1 Market Street", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}
SKUS = 1000


def _customer(index: int):
    return get_user_model().objects.get(username=f"customer{40000 + index:05d}")


def _wait(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def place(customer, lines: list[dict]):
    """One order exactly as OrderListCreateApi.post places it (idempotency key and body fingerprint included)."""
    body = {"shipping_address": ADDRESS, "lines": lines}
    return order_place(customer=customer, email=customer.email, phone="", shipping_address=dict(ADDRESS),
                       lines=lines, currency=None, shipping_total=0, notes="", actor=customer,
                       idempotency_key=uuid.uuid4().hex, fingerprint=_fingerprint(body))


def random_lines(r: random.Random, *, count: int | None = None) -> list[dict]:
    skus = r.sample(range(1, SKUS + 1), count or r.randint(1, 5))
    return [{"sku": f"SKU-{k:05d}", "quantity": r.randint(1, 3)} for k in skus]


def use_database(*, index: int, start_at: float, url: str, pooler: str = "") -> dict:
    """Reconnect this worker to `url` with the settings DATABASE_POOLER=`pooler` gives (the pooler scenario sends
    the same processes through PgBouncer that placed orders directly before)."""
    from django.db import connections

    from config.settings.base import database_for_pooler, env

    connections.close_all()
    target = connections["default"].settings_dict  # the one dict every new connection is made from
    target.update({key: value for key, value in env.db_url_config(url).items()
                   if key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")})
    target.pop("DISABLE_SERVER_SIDE_CURSORS", None)
    database_for_pooler(target, pooler)
    place(_customer(index), random_lines(random.Random(index)))  # the new connection opened, and warm
    return {}


def warm_up(*, index: int, start_at: float) -> dict:
    customer = _customer(index)
    r = random.Random(index)
    for _ in range(3):
        place(customer, random_lines(r))
    return {}


def place_orders(*, index: int, start_at: float, duration: float, seed: int = 0) -> dict:
    """Place orders of 1 to 5 random lines back to back for `duration` seconds."""
    customer = _customer(index)
    r = random.Random(seed * 1000 + index)
    latencies, errors = [], {}
    _wait(start_at)
    end = start_at + duration
    cpu = time.process_time()
    while time.time() < end:
        t = time.perf_counter()
        try:
            place(customer, random_lines(r))
            latencies.append(time.perf_counter() - t)
        except (DomainError, OperationalError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    return {"latencies": latencies, "errors": errors, "cpu_s": time.process_time() - cpu}


def buy_hot(*, index: int, start_at: float, sku: str, max_seconds: float = 60) -> dict:
    """Buy one unit of `sku` again and again until it is sold out (or time runs out)."""
    customer = _customer(index)
    latencies, done_at, errors = [], [], {}
    sold_out = False
    _wait(start_at)
    while time.time() < start_at + max_seconds:
        t = time.perf_counter()
        try:
            place(customer, [{"sku": sku, "quantity": 1}])
        except DomainError as exc:
            if getattr(exc, "code", "") == "out_of_stock":
                sold_out = True
                break
            errors[f"{type(exc).__name__}:{exc.code}"] = errors.get(f"{type(exc).__name__}:{exc.code}", 0) + 1
            continue
        except Exception as exc:  # noqa: BLE001 - any error that reaches a client counts against the figure
            sqlstate = getattr(exc.__cause__, "sqlstate", None)
            name = f"{type(exc).__name__}:{sqlstate}" if sqlstate else type(exc).__name__
            errors[name] = errors.get(name, 0) + 1
            continue
        latencies.append(time.perf_counter() - t)
        done_at.append(time.time())
    return {"latencies": latencies, "done_at": done_at, "errors": errors, "sold_out": sold_out, "start_at": start_at}
