"""Pure numbers: percentiles, one side's summary, and the Chirp/baseline ratio."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.loadgen import LoadResult

NS_PER_MS = 1_000_000
#: Decimal places kept in the JSON: microsecond resolution for milliseconds,
#: three significant decimals for ratios; more would be noise.
MS_DIGITS = 3
RATIO_DIGITS = 3
RPS_DIGITS = 1
CPU_DIGITS = 2


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence.

    Nearest rank (the smallest value with at least ``pct`` % of the values at
    or below it) always returns a latency that was actually observed, as wrk
    and HdrHistogram report; interpolating would invent values between two
    samples, which at p99 of a few hundred requests is misleading.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0..100")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(result: LoadResult) -> dict[str, Any]:
    """One side's JSON: counts, throughput, latency percentiles, CPU use."""
    latencies = sorted(result.latencies_ns)
    count = len(latencies)

    def ms(value_ns: float | None) -> float | None:
        return None if value_ns is None else round(value_ns / NS_PER_MS, MS_DIGITS)

    def pct(p: float) -> float | None:
        return ms(percentile(latencies, p)) if latencies else None

    return {
        "requests": count,
        "rps": round(count / result.window_s, RPS_DIGITS) if result.window_s > 0 else 0.0,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": ms(latencies[-1]) if latencies else None,
        "mean_ms": ms(sum(latencies) / count) if count else None,
        "errors": result.errors,
        **{
            f"{name}_cpu_cores": _per_second(cpu_s, result.window_s)
            for name, cpu_s in result.cpu_s.items()
        },
    }


def _per_second(cpu_s: float | None, window_s: float) -> float | None:
    """CPU-seconds per wall second, i.e. how many cores were busy on average."""
    if cpu_s is None or window_s <= 0:
        return None
    return round(cpu_s / window_s, CPU_DIGITS)


def ratio(chirp: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """Chirp divided by baseline: rps below 1 and latencies above 1 mean Chirp is slower."""

    def div(key: str) -> float | None:
        top, bottom = chirp.get(key), baseline.get(key)
        if top is None or not bottom:
            return None
        return round(float(top) / float(bottom), RATIO_DIGITS)

    return {"rps": div("rps"), "p50": div("p50_ms"), "p99": div("p99_ms")}
