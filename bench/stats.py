"""Percentiles and medians for the benchmark figures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), or None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_ms(samples_s: Sequence[float]) -> dict[str, float | None]:
    ms = [s * 1000 for s in samples_s]
    return {f"p{q}_ms": _round(percentile(ms, q)) for q in (50, 95, 99)}


def median_of(runs: Sequence[dict], keys: Sequence[str]) -> dict:
    """Median, key by key, of the figures of repeated runs (None when a run has no figure)."""
    out = {}
    for key in keys:
        values = [run[key] for run in runs if run.get(key) is not None]
        out[key] = _round(statistics.median(values)) if values else None
    return out


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
