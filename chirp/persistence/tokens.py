"""Login tokens: Postgres is the record, Redis a cache in front of it.

Only SHA-256 digests of tokens are stored, in both places. Flushing Redis logs
nobody out (the next request falls back to Postgres and refills the cache);
deleting the Postgres row and the cache entry revokes a token everywhere.
"""

from __future__ import annotations

from redis.asyncio import Redis

from chirp.persistence.postgres import Executor

#: A cached session lives a day past its last cache fill, then is re-read from
#: Postgres; short enough that the cache does not grow without bound.
TOKEN_CACHE_TTL_SECONDS = 24 * 3600
#: Unknown tokens are remembered briefly so a client retrying a revoked token
#: in a loop costs Redis reads, not Postgres queries.
UNKNOWN_TOKEN_CACHE_TTL_SECONDS = 60
_UNKNOWN = "-"


def _key(digest: bytes) -> str:
    return f"session:{digest.hex()}"


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
    """The cached owner; ``False`` for a cached unknown token, ``None`` on a miss."""
    value = await redis.get(_key(digest))
    if value is None:
        return None
    return False if value == _UNKNOWN else int(value)


async def cache_user_id(redis: Redis, *, digest: bytes, user_id: int | None) -> None:
    if user_id is None:
        await redis.set(_key(digest), _UNKNOWN, ex=UNKNOWN_TOKEN_CACHE_TTL_SECONDS)
    else:
        await redis.set(_key(digest), str(user_id), ex=TOKEN_CACHE_TTL_SECONDS)


async def uncache(redis: Redis, *, digest: bytes) -> None:
    await redis.delete(_key(digest))
