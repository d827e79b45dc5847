"""Idempotency-Key for the API of every app: one entry point here, whose store the orders app provides
(orders.idempotency, registered from OrdersConfig.ready) so that apps below it in the layers use it too.

    return idempotent(request, lambda: Response(..., status=201))
"""

from __future__ import annotations

from collections.abc import Callable

_store: Callable | None = None


def register_idempotency_store(run_idempotently: Callable) -> None:
    global _store
    _store = run_idempotently


def idempotent(request, run: Callable):
    if _store is None:  # pragma: no cover - the orders app is always installed
        raise RuntimeError("No idempotency store is registered (orders.apps).")
    return _store(request, run)
