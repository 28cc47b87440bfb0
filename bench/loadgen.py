"""Closed-loop HTTP/1.1 load generator on raw asyncio sockets with httptools.

Why not httpx or aiohttp: on a 2-core machine the client shares the CPU with
the server, so every microsecond the client spends per request is taken from
the server and distorts the result. Requests here are encoded to bytes once,
each connection writes them and parses the reply with httptools (the C parser
uvicorn itself uses), on uvloop when present. Measured on the 2-core dev
machine against the ``viewer`` baseline (about 1 ms of server CPU per
request): this client costs about 70 us of CPU per request (140 us on the
plain asyncio loop), aiohttp about 200 us, httpx 1-3 ms (at 32 connections
httpx alone used 0.7 of a core and capped the run at a quarter of the
server's throughput). Each side's report includes the client's own CPU use,
so a run whose client was the bottleneck can be recognised.

Model: ``concurrency`` keep-alive connections, each sending its next request
as soon as the previous response is complete (closed loop, like wrk). The
first ``warmup_s`` seconds are not counted; a request is counted when it
completes inside the measured window, like wrk.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import httptools

from bench.machine import CpuProbe
from bench.scenario import Request, ResponseCheck

T = TypeVar("T")

#: How long connections may take to finish their in-flight request after the
#: window closes before they are cancelled: a hung server must not hang the run.
DRAIN_TIMEOUT_S = 5.0
#: Pause after a failed connect so a dead server is not hammered in a tight loop.
RECONNECT_BACKOFF_S = 0.05
#: Failure reasons kept verbatim for stderr; the rest are only counted.
MAX_ERROR_SAMPLES = 5
#: Seconds to open one connection; loopback connects in microseconds.
CONNECT_TIMEOUT_S = 5.0

CLIENT_NAME = "asyncio+httptools keep-alive (closed loop)"


def encode_request(request: Request, host: str) -> bytes:
    """Serialise one request to HTTP/1.1 wire bytes."""
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}"]
    for name, value in request.headers.items():
        if any(c in name + value for c in "\r\n"):
            raise ValueError(f"header {name!r} contains a line break")
        if name.lower() not in ("host", "content-length"):
            lines.append(f"{name}: {value}")
    if request.method == "HEAD":
        # The response parser cannot know a reply is to HEAD and would wait for its body.
        raise ValueError("HEAD requests are not supported by the load generator")
    if request.body or request.method != "GET":
        lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


@dataclass
class LoadResult:
    """What one measured window produced."""

    latencies_ns: list[int]
    errors: int
    window_s: float
    #: CPU-seconds each probe counted during the window (None: not measurable here).
    cpu_s: dict[str, float | None] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``request`` sends bytes and awaits the full reply."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.reusable = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(exc or ConnectionResetError("server closed the connection"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._body = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.reusable and self._parser.should_keep_alive()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))

    def _fail(self, exc: BaseException) -> None:
        self.reusable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self._transport is not None:
            self._transport.close()

    def request(self, payload: bytes) -> asyncio.Future[tuple[int, bytes]]:
        if self._transport is None or self._waiter is not None:
            raise RuntimeError("request on a connection that is not idle")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(payload)
        return self._waiter

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()


async def _connect(host: str, port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(
        loop.create_connection(_Connection, host, port), CONNECT_TIMEOUT_S
    )
    return conn


@dataclass
class _Tally:
    """Per-run accumulators shared by all connections (one event loop, no locks)."""

    start_ns: int
    end_ns: int
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def record(self, started_ns: int, finished_ns: int, failure: str | None) -> None:
        if not self.start_ns <= finished_ns < self.end_ns:
            return
        self.latencies_ns.append(finished_ns - started_ns)
        if failure is not None:
            self.errors += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append(failure)


async def _drive(
    conn: _Connection | None,
    host: str,
    port: int,
    payloads: Sequence[bytes],
    offset: int,
    check: ResponseCheck,
    tally: _Tally,
) -> None:
    """One closed-loop connection: send, await, check, record, repeat until the window ends."""
    clock = time.perf_counter_ns
    index = offset
    try:
        while clock() < tally.end_ns:
            started = clock()
            failure: str | None
            try:
                if conn is None or not conn.reusable:
                    conn = await _connect(host, port)
                status, body = await conn.request(payloads[index % len(payloads)])
                index += 1
                failure = check(status, body)
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                failure = f"{type(exc).__name__}: {exc}"
                conn = None
                tally.record(started, clock(), failure)
                await asyncio.sleep(RECONNECT_BACKOFF_S)
                continue
            tally.record(started, clock(), failure)
    finally:
        if conn is not None:
            conn.close()


async def run_load(
    host: str,
    port: int,
    requests: Sequence[Request],
    check: ResponseCheck,
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    cpu_probes: Mapping[str, CpuProbe] | None = None,
) -> LoadResult:
    """Open ``concurrency`` connections, warm up, then measure for ``duration_s``.

    ``cpu_probes`` are read when the window opens and closes; the client's own
    CPU time is always measured, as ``client``.
    """
    if not requests:
        raise ValueError("a scenario must produce at least one request")
    host_header = f"{host}:{port}"
    payloads = [encode_request(r, host_header) for r in requests]
    probes: dict[str, CpuProbe] = {"client": time.process_time, **(cpu_probes or {})}
    opened = await asyncio.gather(
        *(_connect(host, port) for _ in range(concurrency)), return_exceptions=True
    )
    conns = [c for c in opened if isinstance(c, _Connection)]
    if len(conns) < concurrency:
        for conn in conns:
            conn.close()
        raise next(e for e in opened if isinstance(e, BaseException))

    loop = asyncio.get_running_loop()
    now = time.perf_counter_ns()
    tally = _Tally(
        start_ns=now + int(warmup_s * 1e9), end_ns=now + int((warmup_s + duration_s) * 1e9)
    )
    marks: dict[str, dict[str, float | None]] = {}

    def mark(name: str) -> None:
        marks[name] = {probe: read() for probe, read in probes.items()}

    loop.call_later(warmup_s, mark, "start")
    loop.call_later(warmup_s + duration_s, mark, "end")
    tasks = [
        asyncio.create_task(_drive(c, host, port, payloads, i, check, tally))
        for i, c in enumerate(conns)
    ]
    _, pending = await asyncio.wait(tasks, timeout=warmup_s + duration_s + DRAIN_TIMEOUT_S)
    for task in pending:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises a bug in _drive rather than hiding it
    for name in ("start", "end"):
        if name not in marks:  # the timer raced the last connection's exit
            mark(name)

    start, end = marks["start"], marks["end"]
    return LoadResult(
        latencies_ns=tally.latencies_ns,
        errors=tally.errors,
        window_s=duration_s,
        cpu_s={name: _delta(start[name], end[name]) for name in probes},
        error_samples=tally.error_samples,
    )


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on uvloop when installed (it comes with uvicorn[standard]),
    since it roughly halves the client's event-loop overhead; asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def loop_name() -> str:
    """Which event loop ``run_async`` uses, for the environment report."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"
