"""What a benchmark scenario is: setup, the measured requests, and a baseline.

A scenario is data plus two functions so that adding one (user-timeline,
home-feed, fan-out, redirect, trends, ...) is one small module in
``bench/scenarios/`` and never touches the harness.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

StateT = TypeVar("StateT")

#: Decides whether one measured response failed: ``None`` if it is fine,
#: otherwise a short reason (the first few reasons are printed to stderr).
ResponseCheck = Callable[[int, bytes], "str | None"]


@dataclass(frozen=True)
class Request:
    """One HTTP request of the measured phase.

    The load generator encodes each request to bytes once, before the clock
    starts, so building requests costs nothing per measured request.
    ``Host`` and ``Content-Length`` are added by the load generator.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


def http_2xx(status: int, body: bytes) -> str | None:
    """The default check: any 2xx status is a success."""
    return None if 200 <= status < 300 else f"HTTP {status}: {body[:200]!r}"


@dataclass(frozen=True)
class StatsProbe:
    """Counters a server exposes about itself (e.g. cache hits), read through
    its API right before and right after the load; ``report(before, after)``
    becomes the side's ``server_stats`` (an empty dict leaves it out)."""

    read: Callable[[httpx.AsyncClient], Awaitable[dict[str, float]]]
    report: Callable[[dict[str, float], dict[str, float]], dict[str, Any]]


@dataclass(frozen=True)
class Scenario(Generic[StateT]):
    """One benchmark: the same setup and requests run against Chirp and a baseline.

    ``setup`` runs once per server, before the warm-up, through the public API
    (it is not measured); it gets an ``httpx.AsyncClient`` whose ``base_url``
    is the server's origin, and that origin. ``requests`` turns the setup's
    state into the pool of requests that the connections cycle through.
    ``baseline_app`` is a ``module:attribute`` ASGI app that serves the same
    response shape from memory, run under uvicorn exactly like Chirp.
    """

    name: str
    summary: str
    baseline_app: str
    setup: Callable[[httpx.AsyncClient, str], Awaitable[StateT]]
    requests: Callable[[StateT], Sequence[Request]]
    check: ResponseCheck = http_2xx
    #: Arguments for ``chirp seed``, run on Chirp's data directory before it
    #: starts (the baseline builds the same data in memory at import).
    seed: tuple[str, ...] = ()
    #: Optional server-side counters to report with the side's numbers.
    stats: StatsProbe | None = None

    def __post_init__(self) -> None:
        if "." in self.name or not self.name:
            raise ValueError(f"scenario name {self.name!r} must be non-empty, without dots")


AnyScenario = Scenario[Any]


@dataclass(frozen=True)
class Measurement:
    """A benchmark that is not request load: it drives Chirp's components itself
    (e.g. time until a tweet reaches 10,000 timelines) and measures its own
    baseline in the same run. ``run`` gets the parsed ``chirp bench`` options
    and returns the report (with ``chirp``, ``baseline`` and ``ratio``)."""

    name: str
    summary: str
    run: Callable[[Any], dict[str, Any]]
