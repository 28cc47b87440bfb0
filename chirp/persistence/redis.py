"""The Redis client: timelines, trends, caches, pub/sub and streams share it."""

from __future__ import annotations

from redis.asyncio import Redis

#: Redis answers in well under a millisecond; a command that takes longer than
#: this means Redis is gone, and the caller should fall back or fail fast.
SOCKET_TIMEOUT_SECONDS = 5.0
#: Connections per process; commands are short, so a few dozen go a long way.
MAX_CONNECTIONS = 64


def connect_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        max_connections=MAX_CONNECTIONS,
        health_check_interval=30,
    )
