"""Persisted GraphQL documents in Redis, by the SHA-256 of their text.

A cache, not a record: losing it costs each client one extra round trip (the
client resends the document with its hash). Both keys share the ``{apq}``
hash tag, so the scripts stay on one slot of a Redis Cluster.
"""

from __future__ import annotations

from redis.asyncio import Redis

from chirp.persistence.lua import Script

#: document text by hash
DOCUMENTS_KEY = "chirp:{apq}:documents"
#: hash -> tick of its last use; the least recently used go first past the cap
RECENCY_KEY = "chirp:{apq}:recency"
#: a counter: uses are ordered by it, not by clocks that tie within a millisecond
CLOCK_KEY = "chirp:{apq}:clock"
_KEYS = [DOCUMENTS_KEY, RECENCY_KEY, CLOCK_KEY]

_SCRIPTS: list[Script] = []

#: Read a document and mark it used, in one round trip.
_GET = Script(
    """
    local document = redis.call('HGET', KEYS[1], ARGV[1])
    if document then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1]) end
    return document
    """,
    registry=_SCRIPTS,
)

#: Store a document, then drop the least recently used beyond ARGV[3] entries.
_PUT = Script(
    """
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
    local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
    if excess > 0 then
      local evicted = redis.call('ZPOPMIN', KEYS[2], excess)
      for i = 1, #evicted, 2 do redis.call('HDEL', KEYS[1], evicted[i]) end
    end
    return excess
    """,
    registry=_SCRIPTS,
)


async def get_document(redis: Redis, *, sha256: str) -> str | None:
    return await _GET(redis, keys=_KEYS, args=[sha256])


async def put_document(redis: Redis, *, sha256: str, document: str, max_documents: int) -> None:
    await _PUT(redis, keys=_KEYS, args=[sha256, document, max_documents])


async def stored_count(redis: Redis) -> int:
    return int(await redis.hlen(DOCUMENTS_KEY))
