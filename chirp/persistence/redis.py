"""The Redis client: timelines, trends, caches, pub/sub and streams share it."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

#: Redis answers in well under a millisecond; a command that takes longer than
#: this means Redis is gone, and the caller should fall back or fail fast.
SOCKET_TIMEOUT_SECONDS = 5.0
#: Connections per process; commands are short, so a few dozen go a long way.
MAX_CONNECTIONS = 64
#: When all are busy (a burst of fan-outs), callers wait this long for one
#: rather than failing at once.
POOL_WAIT_SECONDS = 5.0


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
