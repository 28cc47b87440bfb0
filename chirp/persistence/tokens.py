"""Login tokens: Postgres is the record, Redis a best-effort cache in front of it.

Only SHA-256 digests of tokens are stored, in both places. Flushing Redis logs
nobody out (the next request falls back to Postgres and refills the cache),
and neither does losing it: every cache call goes through the Redis breaker
(:func:`chirp.persistence.redis.guarded`), and when Redis is down or slow a
read answers "miss" and a write does nothing, so accounts run on Postgres alone.

A revocation must hold even when Redis misses it:

- Revoking writes a short-lived tombstone instead of deleting the entry, and
  every fill is ``SET NX``, so a request that read the token from Postgres just
  before the revocation cannot put it back into the cache afterwards.
- A revocation whose tombstone could not be written (Redis down) is kept in
  this process, and the cache is not trusted again until every kept tombstone
  has been written: a token revoked during an outage does not come back from a
  stale entry when Redis returns (SIGCONT, or a restart from its snapshot).
- ``TOKEN_CACHE_TTL_SECONDS`` bounds what neither can see: a process that died
  holding revocations, or an external Redis restored from an older snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final
from weakref import WeakKeyDictionary

from redis.asyncio import Redis

from chirp.persistence.postgres import Executor
from chirp.persistence.redis import RedisUnavailable, guarded

log = logging.getLogger(__name__)

#: A cached session is re-read from Postgres this long after its cache fill:
#: one primary-key lookup per active token per quarter hour, and the longest a
#: revocation the cache never heard of (see the module docstring) can linger.
TOKEN_CACHE_TTL_SECONDS: Final = 15 * 60
#: Unknown tokens are remembered briefly so a client retrying a revoked token
#: in a loop costs Redis reads, not Postgres queries.
UNKNOWN_TOKEN_CACHE_TTL_SECONDS: Final = 60
#: A revoked token's tombstone outlives any request that read the token from
#: Postgres before the revocation and is about to fill the cache (requests
#: take milliseconds; the bound is the request timeout, far below this).
REVOKED_TOMBSTONE_SECONDS: Final = UNKNOWN_TOKEN_CACHE_TTL_SECONDS
#: Revocations kept while Redis is down. Past this many (an outage with a
#: storm of log-outs) they are dropped in favour of deleting every cached
#: session when Redis returns, so memory stays bounded and none is missed.
MAX_PENDING_REVOCATIONS: Final = 10_000
#: Keys deleted per round trip when every cached session is dropped.
PURGE_BATCH: Final = 1_000
KEY_PREFIX: Final = "session:"
_UNKNOWN: Final = "-"


def _key(digest: bytes) -> str:
    return f"{KEY_PREFIX}{digest.hex()}"


@dataclass
class _Pending:
    """Revocations this process could not write to one Redis yet."""

    digests: set[bytes] = field(default_factory=set)
    #: Too many to keep: drop every cached session instead.
    purge_all: bool = False

    def __bool__(self) -> bool:
        return self.purge_all or bool(self.digests)


_pending: WeakKeyDictionary[Redis, _Pending] = WeakKeyDictionary()


async def insert_token(db: Executor, *, digest: bytes, user_id: int) -> None:
    await db.execute(
        "INSERT INTO auth_tokens (token_hash, user_id) VALUES ($1, $2)", digest, user_id
    )


async def delete_token(db: Executor, *, digest: bytes) -> bool:
    status = await db.execute("DELETE FROM auth_tokens WHERE token_hash = $1", digest)
    return status != "DELETE 0"


async def user_id_for_token(db: Executor, *, digest: bytes) -> int | None:
    return await db.fetchval("SELECT user_id FROM auth_tokens WHERE token_hash = $1", digest)


async def cached_user_id(redis: Redis, *, digest: bytes) -> int | bool | None:
    """The cached owner; ``False`` for a cached unknown or revoked token;
    ``None`` on a miss, and whenever the cache cannot be read or trusted."""
    if not await _write_pending(redis):
        return None
    try:
        value = await guarded(redis, lambda: redis.get(_key(digest)))
    except RedisUnavailable:
        return None
    if value is None:
        return None
    return False if value == _UNKNOWN else int(value)


async def cache_user_id(redis: Redis, *, digest: bytes, user_id: int | None) -> None:
    """Remember what Postgres said, unless a tombstone (or another fill) is
    there already; nothing happens when Redis is unavailable."""
    if user_id is None:
        value, ttl = _UNKNOWN, UNKNOWN_TOKEN_CACHE_TTL_SECONDS
    else:
        value, ttl = str(user_id), TOKEN_CACHE_TTL_SECONDS
    try:
        await guarded(redis, lambda: redis.set(_key(digest), value, ex=ttl, nx=True))
    except RedisUnavailable:
        pass


async def uncache(redis: Redis, *, digest: bytes) -> None:
    """Tombstone a revoked token's entry; if Redis is unavailable, keep the
    revocation until it can be written (the cache is distrusted meanwhile)."""
    pending = _pending.setdefault(redis, _Pending())
    pending.digests.add(digest)
    if len(pending.digests) > MAX_PENDING_REVOCATIONS:
        log.warning(
            "%d revocations pending; every cached session will be dropped instead",
            len(pending.digests),
        )
        pending.digests.clear()
        pending.purge_all = True
    await _write_pending(redis)


async def _write_pending(redis: Redis) -> bool:
    """Write this process's pending revocations; True when none is left."""
    pending = _pending.get(redis)
    if not pending:
        return True
    digests = set(pending.digests)
    try:
        if pending.purge_all:
            await _purge_sessions(redis)
            pending.purge_all = False

        async def tombstones() -> None:
            async with redis.pipeline(transaction=False) as pipe:
                for digest in digests:
                    pipe.set(_key(digest), _UNKNOWN, ex=REVOKED_TOMBSTONE_SECONDS)
                await pipe.execute()

        if digests:
            await guarded(redis, tombstones)
    except RedisUnavailable:
        return False
    pending.digests -= digests
    return not pending


async def _purge_sessions(redis: Redis) -> None:
    """Delete every cached session, a batch per guarded round trip (a purge cut
    short by an outage starts over; deleting twice is harmless)."""
    cursor = 0
    while True:

        async def batch(at: int = cursor) -> int:
            after, keys = await redis.scan(cursor=at, match=f"{KEY_PREFIX}*", count=PURGE_BATCH)
            if keys:
                await redis.unlink(*keys)
            return int(after)

        cursor = await guarded(redis, batch)
        if cursor == 0:
            return
