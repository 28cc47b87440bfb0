"""Does a series sampled over a long run keep climbing? Pure numbers.

A soak samples memory, latency and file descriptors every few seconds. A
server that is fine warms up (caches fill, the allocator grows its arenas,
pools open their connections) and then stays level; a leak climbs for as long
as the load lasts. Two measures tell them apart, and a series is *climbing*
only when both say so:

- ``ratio``: the median of the last third of the samples over the median of
  the first third. Medians ignore one-off spikes (a GC pause, an autovacuum);
  the ratio says whether the level moved materially over the run.
- ``slope_per_min``: the Theil–Sen slope (the median of the slopes between
  every pair of samples) over the second half of the run, per minute. The
  second half leaves the warm-up behind, and Theil–Sen ignores outliers that
  would swing a least-squares fit; it says whether the level is *still*
  rising at the end, rather than having risen once and settled.

A step during warm-up raises the ratio but not the late slope; noise around
a level gives a late slope of either sign but a ratio near 1. A leak raises
both.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Fewer samples than this cannot be split into thirds and a second half that
#: each hold enough points for a median; such a series gets no verdict.
MIN_SAMPLES = 6
DIGITS = 3


def theil_sen_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Median of the slopes between all pairs of points (with distinct x)."""
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    if not slopes:
        raise ValueError("a slope needs two points with different x")
    return statistics.median(slopes)


@dataclass(frozen=True)
class ClimbRule:
    """When a series counts as climbing: its ratio above ``max_ratio`` and its
    late slope above ``max_slope_per_min`` (in the series' unit per minute) or,
    for series whose scale differs run to run (latency), above
    ``max_relative_slope_per_min`` times the first third's median."""

    max_ratio: float
    max_slope_per_min: float | None = None
    max_relative_slope_per_min: float | None = None

    def slope_limit(self, first_third_median: float) -> float:
        if self.max_slope_per_min is not None:
            return self.max_slope_per_min
        if self.max_relative_slope_per_min is not None:
            return self.max_relative_slope_per_min * first_third_median
        raise ValueError("a ClimbRule needs a slope limit")


def drift(
    times_s: Sequence[float], values: Sequence[float | None], rule: ClimbRule
) -> dict[str, Any]:
    """The series' level change and late slope, and whether ``rule`` calls it climbing.

    Samples whose value is None (nothing measured in that window) are left
    out. With fewer than ``MIN_SAMPLES`` left, ``climbing`` is None: no verdict.
    """
    points = [(t, v) for t, v in zip(times_s, values, strict=True) if v is not None]
    if len(points) < MIN_SAMPLES:
        return {"samples": len(points), "climbing": None, "reason": "too few samples"}
    third = len(points) // 3
    first = statistics.median(v for _, v in points[:third])
    last = statistics.median(v for _, v in points[-third:])
    late = points[len(points) // 2 :]
    slope = theil_sen_slope([t for t, _ in late], [v for _, v in late]) * 60
    limit = rule.slope_limit(first)
    ratio = last / first if first > 0 else (1.0 if last == 0 else float("inf"))
    climbing = ratio > rule.max_ratio and slope > limit
    return {
        "samples": len(points),
        "first_third_median": round(first, DIGITS),
        "last_third_median": round(last, DIGITS),
        "ratio": round(ratio, DIGITS),
        "max_ratio": rule.max_ratio,
        "late_slope_per_min": round(slope, DIGITS),
        "max_late_slope_per_min": round(limit, DIGITS),
        "climbing": climbing,
    }
