"""Paced (open-loop) HTTP load over long runs, reported in fixed windows.

The closed-loop generator in :mod:`bench.loadgen` finds a server's peak;
a soak runs *below* the peak for minutes, so requests are sent on a fixed
schedule instead: the k-th request is due at ``start + k / rate``, whatever
happened to the ones before it. Latency is measured from that due time, not
from when a connection got round to sending it, so a server that stalls
shows the whole wait of every request queued behind the stall (wrk2's
correction for coordinated omission); a server that cannot sustain the rate
shows latency growing without bound instead of a quietly lower rate.

Connections are the same keep-alive ``httptools`` connections as
:mod:`bench.loadgen` (same CPU cost per request); ``connections`` bounds how
many requests can be in flight at once. Every ``window_s`` seconds of the
measured phase the window's requests are summarised and ``sample`` (e.g. the
server's memory) is read, in a thread so it does not stall the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httptools

from bench.loadgen import MAX_ERROR_SAMPLES, RECONNECT_BACKOFF_S, _connect, _Connection
from bench.scenario import ResponseCheck
from bench.stats import MS_DIGITS, NS_PER_MS, RPS_DIGITS, percentile

#: A request without an answer after this long is counted as failed and its
#: connection replaced: a hung request must not hold a connection for the run.
REQUEST_TIMEOUT_S = 30.0
#: Time for requests in flight when the run ends to finish before they are cancelled.
DRAIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PacedRequest:
    """One request of the mix: its kind (for per-kind counts and its check)
    and its wire bytes (see ``bench.loadgen.encode_request``)."""

    kind: str
    payload: bytes


@dataclass
class _Window:
    """What completed during one window."""

    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    server_errors: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    #: Largest delay between a request's due time and its sending: above a few
    #: ms every connection was busy (the server, or the client, fell behind).
    max_start_lag_ns: int = 0
    error_samples: list[str] = field(default_factory=list)


@dataclass
class PacedResult:
    windows: list[dict[str, Any]]
    error_samples: list[str]
    #: Requests whose due time fell in the measured phase but that never
    #: started (the run ended with them still queued behind busy connections).
    unsent: int


def summarize_window(window: _Window, window_s: float) -> dict[str, Any]:
    """One window's JSON: counts, rate and latency percentiles (ms, nearest rank)."""
    latencies = sorted(window.latencies_ns)

    def ms(value_ns: float) -> float:
        return round(value_ns / NS_PER_MS, MS_DIGITS)

    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / window_s, RPS_DIGITS),
        "errors": window.errors,
        "http_5xx": window.server_errors,
        "p50_ms": ms(percentile(latencies, 50)) if latencies else None,
        "p99_ms": ms(percentile(latencies, 99)) if latencies else None,
        "max_ms": ms(latencies[-1]) if latencies else None,
        "max_start_lag_ms": ms(window.max_start_lag_ns),
        "by_kind": dict(sorted(window.by_kind.items())),
    }


class _Schedule:
    """The shared state of one run: who sends which request when, and where it is counted."""

    def __init__(
        self,
        requests: Sequence[PacedRequest],
        checks: Mapping[str, ResponseCheck],
        *,
        rate: float,
        start_ns: int,
        measure_start_ns: int,
        end_ns: int,
    ) -> None:
        self.requests = requests
        self.checks = checks
        self.interval_ns = 1e9 / rate
        self.start_ns = start_ns
        self.measure_start_ns = measure_start_ns
        self.end_ns = end_ns
        self.next_index = 0
        self.window = _Window()
        self.error_samples: list[str] = []
        #: Set after the last sample: connections stay open until then, so the
        #: last window's descriptor count is not lowered by the run ending.
        self.sampled = asyncio.Event()

    def take(self) -> tuple[int, PacedRequest] | None:
        """The next request and its due time, or None once due times pass the end."""
        index = self.next_index
        due = self.start_ns + int(index * self.interval_ns)
        if due >= self.end_ns:
            return None
        self.next_index += 1
        return due, self.requests[index % len(self.requests)]

    def record(
        self, kind: str, due: int, sent: int, done: int, status: int | None, failure: str | None
    ) -> None:
        if not self.measure_start_ns <= done < self.end_ns:
            return
        window = self.window
        window.latencies_ns.append(done - due)
        window.by_kind[kind] += 1
        window.max_start_lag_ns = max(window.max_start_lag_ns, sent - due)
        if status is not None and status >= 500:
            window.server_errors += 1
        if failure is not None:
            window.errors += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append(f"{kind}: {failure}")

    def close_window(self) -> _Window:
        window, self.window = self.window, _Window()
        return window


async def _send_loop(schedule: _Schedule, host: str, port: int) -> None:
    """One connection: take the next due request, wait for its time, send, record."""
    clock = time.perf_counter_ns
    conn: _Connection | None = None
    try:
        while (taken := schedule.take()) is not None:
            due, request = taken
            wait_ns = due - clock()
            if wait_ns > 0:
                await asyncio.sleep(wait_ns / 1e9)
            sent = clock()
            status: int | None = None
            try:
                if conn is None or not conn.reusable:
                    conn = await _connect(host, port)
                status, body = await asyncio.wait_for(
                    conn.request(request.payload), REQUEST_TIMEOUT_S
                )
                failure = schedule.checks[request.kind](status, body)
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                failure = f"{type(exc).__name__}: {exc}"
                if conn is not None:
                    conn.close()
                conn = None
                schedule.record(request.kind, due, sent, clock(), status, failure)
                await asyncio.sleep(RECONNECT_BACKOFF_S)
                continue
            schedule.record(request.kind, due, sent, clock(), status, failure)
        await schedule.sampled.wait()
    finally:
        if conn is not None:
            conn.close()


async def run_paced(
    host: str,
    port: int,
    requests: Sequence[PacedRequest],
    checks: Mapping[str, ResponseCheck],
    *,
    rate: float,
    connections: int,
    warmup_s: float,
    duration_s: float,
    window_s: float,
    sample: Callable[[], dict[str, Any]] | None = None,
    progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> PacedResult:
    """Send ``requests`` (cycled) at ``rate`` per second for ``warmup_s`` (not
    counted) then ``duration_s``, over at most ``connections`` connections;
    one summary per ``window_s`` of the measured phase, each merged with what
    ``sample()`` returned at the window's end."""
    if not requests:
        raise ValueError("a paced run needs at least one request")
    if rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    windows_count = max(1, round(duration_s / window_s))
    now = time.perf_counter_ns()
    measure_start = now + int(warmup_s * 1e9)
    schedule = _Schedule(
        requests,
        checks,
        rate=rate,
        start_ns=now,
        measure_start_ns=measure_start,
        end_ns=measure_start + int(windows_count * window_s * 1e9),
    )
    senders = [asyncio.create_task(_send_loop(schedule, host, port)) for _ in range(connections)]
    windows: list[dict[str, Any]] = []
    try:
        for n in range(windows_count):
            boundary = measure_start + int((n + 1) * window_s * 1e9)
            await asyncio.sleep(max(0.0, (boundary - time.perf_counter_ns()) / 1e9))
            summary = {"t_s": round((n + 1) * window_s, 1)}
            summary.update(summarize_window(schedule.close_window(), window_s))
            if sample is not None:
                summary.update(await asyncio.to_thread(sample))
            windows.append(summary)
            if progress is not None:
                progress(n, summary)
    finally:
        schedule.sampled.set()
        _, pending = await asyncio.wait(senders, timeout=DRAIN_TIMEOUT_S)
        for task in pending:
            task.cancel()
        for task in senders:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # re-raises a bug in _send_loop rather than hiding it
    due_in_run = int((schedule.end_ns - schedule.start_ns) / schedule.interval_ns)
    return PacedResult(
        windows=windows,
        error_samples=schedule.error_samples,
        unsent=max(0, due_in_run - schedule.next_index),
    )
