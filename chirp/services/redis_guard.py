"""Redis calls of the home-feed read path: bounded, and behind the shared breaker.

The read path has a fallback (Postgres and the graph, services/feed_pages.py),
so it must not wait on a Redis that hangs: the client's socket timeout is
5 s. It shares the process's breaker for its Redis client with the token
cache (:func:`chirp.persistence.redis.breaker_for`): one failure anywhere
opens it, and while it is open calls are refused at once and the caller
falls back; then one call probes.

What differs from :func:`chirp.persistence.redis.guarded` is when a slow call
counts as a failure. A fixed timeout also fires when Redis is merely busy:
a burst of first reads (500 at once in test_feed_pipeline.py) queues for the
pool's 64 connections for more than a second while Redis answers every
command in microseconds, and falling back then would only move the load to
Postgres. So a call here fails when :data:`SILENCE_SECONDS` pass without
Redis answering *any* guarded feed call of this process since it began:
a stopped or partitioned Redis answers no one, a busy one keeps answering.
Under load a call may then wait as long as redis-py's own pool and socket
timeouts allow (5 s each), as before this guard. Any failure also tells
persistence/currency.py to doubt Redis: it may come back from an old snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar
from weakref import WeakKeyDictionary

from redis.asyncio import Redis

from chirp.persistence import currency
from chirp.persistence.redis import UNAVAILABLE_ERRORS, RedisUnavailable, breaker_for

#: How long a feed call waits while Redis answers nobody: thousands of times
#: its usual answer; what a request costs that meets a Redis that just hung
#: (later ones find the breaker open and do not wait at all).
SILENCE_SECONDS: Final = 0.5

T = TypeVar("T")

#: When a guarded call last got a reply from each Redis (any reply: it lives).
_last_reply: WeakKeyDictionary[Redis, float] = WeakKeyDictionary()


async def guarded(
    redis: Redis, command: Callable[[], Awaitable[T]], *, silence: float = SILENCE_SECONDS
) -> T:
    """Run ``command()`` (Redis calls on ``redis``); :class:`RedisUnavailable`
    when the breaker is open, when it fails for want of Redis, or when
    ``silence`` passes with no reply to any guarded call since it began.
    (A cancelled redis-py command closes its connection, so no reply is left
    behind for the next user.)"""
    breaker = breaker_for(redis)
    if not breaker.allow():
        currency.doubt(redis)
        raise RedisUnavailable(f"skipped after a recent failure ({breaker.last_error})")
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.ensure_future(command())
    try:
        while not task.done():
            await asyncio.wait([task], timeout=silence)
            if not task.done() and _last_reply.get(redis, -float("inf")) < started:
                task.cancel()
                raise TimeoutError(f"no reply from Redis in {silence} s")
        result = task.result()
    except UNAVAILABLE_ERRORS as exc:
        breaker.failed(exc)
        currency.doubt(redis)
        raise RedisUnavailable(str(exc) or type(exc).__name__) from exc
    except BaseException:
        task.cancel()
        breaker.abandoned()  # cancelled, or Redis answered with an error
        raise
    _last_reply[redis] = loop.time()
    breaker.succeeded()
    return result
