"""Helpers for Django signals shared across apps."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.dispatch import Signal


@contextmanager
def receivers_muted(*signals: Signal) -> Iterator[None]:
    """Disconnect every receiver of `signals` for the block, and reconnect them after, whatever happens.

    For importing history (nobody is emailed about last month's orders) and for measuring one service alone.
    """
    saved = [(signal, signal.receivers) for signal in signals]
    try:
        for signal in signals:
            signal.receivers = []
            signal.sender_receivers_cache.clear()
        yield
    finally:
        for signal, receivers in saved:
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()
