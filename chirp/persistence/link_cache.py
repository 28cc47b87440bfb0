"""The Redis tier of the short-link cache: what a code resolves to.

Shared by every app process, so a link looked up once in Postgres is served
from Redis everywhere for ``LINK_TTL_SECONDS``. Links are immutable (target,
expiry and cap never change), so a cached entry can only become wrong by
expiring or running out of visits, and both are checked or cached too.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

#: Positive and "gone" entries: a day keeps the hot set of links in Redis;
#: Redis can drop them any time (they are rebuilt from Postgres on a miss).
LINK_TTL_SECONDS = 86_400
#: Unknown codes: long enough that a scan repeating codes reaches Postgres
#: once per code per minute, short enough that nothing stale lingers (new
#: aliases overwrite their entry anyway).
NOT_FOUND_TTL_SECONDS = 60

_PREFIX = "chirp:link:"
_NOT_FOUND = "N"
_GONE = "G"


@dataclass(frozen=True, slots=True)
class CachedLink:
    """What a redirect needs: the target, when it expires (epoch seconds), and
    whether visits are capped (capped links are counted in Postgres)."""

    target_url: str
    expires_at: float | None
    capped: bool


class Missing:
    """A cached negative answer: the code is unknown (404) or gone (410)."""

    __slots__ = ("status",)

    def __init__(self, status: int) -> None:
        self.status = status

    def __repr__(self) -> str:
        return f"Missing({self.status})"


NOT_FOUND = Missing(404)
GONE = Missing(410)
Entry = CachedLink | Missing


def _encode(entry: Entry) -> str:
    if entry is NOT_FOUND:
        return _NOT_FOUND
    if entry is GONE:
        return _GONE
    assert isinstance(entry, CachedLink)
    expires = "" if entry.expires_at is None else repr(entry.expires_at)
    return f"L|{expires}|{int(entry.capped)}|{entry.target_url}"


def _decode(value: str) -> Entry:
    if value == _NOT_FOUND:
        return NOT_FOUND
    if value == _GONE:
        return GONE
    _, expires, capped, target = value.split("|", 3)
    return CachedLink(
        target_url=target, expires_at=float(expires) if expires else None, capped=capped == "1"
    )


async def get(redis: Redis, code: str) -> Entry | None:
    value = await redis.get(_PREFIX + code)
    return None if value is None else _decode(value)


async def put(redis: Redis, code: str, entry: Entry) -> None:
    ttl = NOT_FOUND_TTL_SECONDS if entry is NOT_FOUND else LINK_TTL_SECONDS
    await redis.set(_PREFIX + code, _encode(entry), ex=ttl)
