"""The Redis client (timelines, trends, caches, pub/sub and streams share it),
and the circuit breaker that lets callers with a fallback live without it.

Redis holds caches and derived data; Postgres is the record. A caller that can
do without Redis (the token cache: Postgres has every token) wraps its
commands in :func:`guarded`: a command that fails or is slow trips the
process's breaker for that client, and for ``BREAKER_OPEN_SECONDS`` every
guarded call fails at once with :class:`RedisUnavailable` instead of waiting
on a server known to be down (the socket timeout is 5 s). Then one call is
let through to probe; its success closes the breaker for everyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar
from weakref import WeakKeyDictionary

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

#: Redis answers in well under a millisecond; a command that takes longer than
#: this means Redis is gone, and the caller should fall back or fail fast.
SOCKET_TIMEOUT_SECONDS = 5.0
#: Connections per process; commands are short, so a few dozen go a long way.
MAX_CONNECTIONS = 64
#: When all are busy (a burst of fan-outs), callers wait this long for one
#: rather than failing at once.
POOL_WAIT_SECONDS = 5.0
#: A guarded command gets this long before its caller falls back: a thousand
#: times Redis's usual answer, and small enough that a request meeting a
#: stopped (SIGSTOP, swapped out) Redis still answers well within a second.
FALLBACK_TIMEOUT_SECONDS: Final = 0.5
#: After a failure, guarded calls skip Redis this long, then one probes it.
#: Short, so a restarted Redis is used again within seconds; long enough that
#: a dead one costs one timed-out probe per interval, not one per request.
BREAKER_OPEN_SECONDS: Final = 2.0

T = TypeVar("T")

#: What "Redis is unreachable" looks like: refused or reset connections,
#: timeouts (redis-py's and asyncio's), a server still loading its snapshot
#: (BusyLoadingError is a ConnectionError). A ResponseError is not among
#: them: Redis answered, so the bug is the caller's.
UNAVAILABLE_ERRORS: Final = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


def connect_redis(url: str) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


class RedisUnavailable(Exception):
    """Redis failed, timed out, or is being skipped after a recent failure."""


class Breaker:
    """Closed (calls go through), open for ``open_seconds`` after a failure
    (calls are refused), then half-open: one call probes while others are
    still refused, and its outcome closes or re-opens the breaker."""

    def __init__(
        self,
        *,
        open_seconds: float = BREAKER_OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.open_seconds = open_seconds
        self._clock = clock
        self._failed_at: float | None = None
        self._probing = False
        #: Why the breaker last opened (None while closed).
        self.last_error: str | None = None

    @property
    def closed(self) -> bool:
        return self._failed_at is None

    def allow(self) -> bool:
        """Whether a call may go to Redis now (claims the probe when half-open)."""
        if self._failed_at is None:
            return True
        if self._probing or self._clock() - self._failed_at < self.open_seconds:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        if self._failed_at is not None:
            log.info("Redis answers again; using it (was: %s)", self.last_error)
        self._failed_at = None
        self._probing = False
        self.last_error = None

    def failed(self, error: BaseException) -> None:
        if self._failed_at is None:
            log.warning(
                "Redis unavailable (%r); skipping it for %.1f s at a time",
                error,
                self.open_seconds,
            )
        self._failed_at = self._clock()
        self._probing = False
        self.last_error = f"{type(error).__name__}: {error}".rstrip(": ")

    def abandoned(self) -> None:
        """The probing call ended without an answer (it was cancelled)."""
        self._probing = False


_breakers: WeakKeyDictionary[Redis, Breaker] = WeakKeyDictionary()


def breaker_for(redis: Redis) -> Breaker:
    """The process's breaker for ``redis`` (one per client, shared by all callers)."""
    breaker = _breakers.get(redis)
    if breaker is None:
        breaker = _breakers[redis] = Breaker()
    return breaker


async def guarded(
    redis: Redis,
    command: Callable[[], Awaitable[T]],
    *,
    seconds: float = FALLBACK_TIMEOUT_SECONDS,
) -> T:
    """Run ``command()`` (Redis calls on ``redis``) under its breaker, for at most
    ``seconds``; :class:`RedisUnavailable` when Redis is down, slow, or skipped."""
    breaker = breaker_for(redis)
    if not breaker.allow():
        raise RedisUnavailable(f"skipped after a recent failure ({breaker.last_error})")
    try:
        async with asyncio.timeout(seconds):
            result = await command()
    except UNAVAILABLE_ERRORS as exc:
        breaker.failed(exc)
        raise RedisUnavailable(str(exc) or type(exc).__name__) from exc
    except BaseException:
        breaker.abandoned()
        raise
    breaker.succeeded()
    return result


async def probe(redis: Redis, *, seconds: float) -> None:
    """PING whatever the breaker says, and tell the breaker the outcome (a
    readiness check is evidence too: a Redis that answers is used again at once)."""
    breaker = breaker_for(redis)
    try:
        async with asyncio.timeout(seconds):
            await redis.ping()
    except UNAVAILABLE_ERRORS as exc:
        breaker.failed(exc)
        raise
    breaker.succeeded()
