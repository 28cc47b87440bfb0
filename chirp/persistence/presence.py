"""Presence keys, and noticing when Redis has lost them.

Publishers learn whether anyone listens through *presence keys* (Mastodon's
``subscribed:timeline:<id>``): a process holds a key while it has a local
subscriber needing it, refreshes every held key in one pipeline, and a key
whose last holder went away simply expires.

A key can also vanish while its holder lives: FLUSHALL, a Redis restart
without persistence, eviction. The fan-out then skips that user and their
events are dropped, which a subscriber cannot see. So the process also holds
a *sentinel* key of its own, and checks it every ``CHECK_SECONDS`` with one
``SET ... GET`` (which re-creates it and returns what was there): nothing
there means Redis lost its data since the last check. Refreshes use
``SET ... GET`` too, so a single missing presence key is noticed as well.
What was lost is reported to the caller (the broker), which re-asserts the
keys and tells the subscribers that may have missed events.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

#: A presence key outlives its last refresh by this much, so a process that
#: dies without cleaning up stops attracting publishes within a minute.
PRESENCE_TTL_SECONDS: Final = 60
#: Refresh often enough that two missed refreshes still keep a key alive.
PRESENCE_REFRESH_SECONDS: Final = PRESENCE_TTL_SECONDS / 3
#: The sentinel is checked this often: the longest a FLUSHALL or a Redis
#: restart goes unnoticed. One command per second per process.
CHECK_SECONDS: Final = 1.0
#: Outlives many missed checks; a process that dies leaves it to expire.
SENTINEL_TTL_SECONDS: Final = PRESENCE_TTL_SECONDS
SENTINEL_PREFIX: Final = "live:sentinel:"


@dataclass(frozen=True, slots=True)
class Lost:
    """What a check found gone."""

    #: The sentinel was gone: Redis lost (or was emptied of) everything.
    everything: bool
    #: Held presence keys found missing at a refresh.
    keys: frozenset[str]


class Presence:
    """The presence keys one process holds, with its sentinel."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._counts: Counter[str] = Counter()
        self.sentinel = f"{SENTINEL_PREFIX}{uuid.uuid4().hex}"
        #: The sentinel was set and nothing since may be presumed lost.
        self._armed = False
        #: Held keys may be missing in Redis (a reconnect, a lost check): until
        #: :meth:`reassert` succeeds, :meth:`hold` sets every key it is given.
        self._stale = False
        self._refreshed_at = 0.0

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def armed(self) -> bool:
        return self._armed

    async def hold(self, keys: Sequence[str]) -> None:
        """Hold ``keys`` (counted per holder) and make sure Redis has them.

        The count changes before anything is awaited, so a caller that fails
        here releases exactly what it asked for."""
        to_set = [key for key in keys if self._stale or not self._counts[key]]
        self._counts.update(keys)
        arm = not self._armed
        if not to_set and not arm:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            if arm:  # the first holder since none: nothing before it to lose
                pipe.set(self.sentinel, "1", ex=SENTINEL_TTL_SECONDS)
            for key in to_set:
                pipe.set(key, "1", ex=PRESENCE_TTL_SECONDS)
            await pipe.execute()
        self._armed = True

    def release(self, keys: Sequence[str]) -> None:
        """Let go of ``keys``; unheld keys expire by themselves."""
        for key in keys:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]

    def disarm(self) -> None:
        """Nobody to tell any more: the next holder starts afresh."""
        self._armed = False

    def mark_stale(self) -> None:
        """Redis may have lost the keys (the connection was re-made)."""
        self._stale = True

    async def check(self) -> Lost | None:
        """Check the sentinel, and refresh the held keys when due (both
        re-create what they find missing); what was lost, if anything."""
        if not self._armed:
            return None
        loop = asyncio.get_running_loop()
        refresh = loop.time() - self._refreshed_at >= PRESENCE_REFRESH_SECONDS
        keys = list(self._counts) if refresh else []
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self.sentinel, "1", ex=SENTINEL_TTL_SECONDS, get=True)
            for key in keys:
                pipe.set(key, "1", ex=PRESENCE_TTL_SECONDS, get=True)
            sentinel, *previous = await pipe.execute()
        if refresh:
            self._refreshed_at = loop.time()
        missing = frozenset(key for key, old in zip(keys, previous, strict=True) if old is None)
        if sentinel is None:
            await self.reassert()
            return Lost(everything=True, keys=missing)
        return Lost(everything=False, keys=missing) if missing else None

    async def reassert(self) -> None:
        """Set the sentinel and every held key again."""
        keys = list(self._counts)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self.sentinel, "1", ex=SENTINEL_TTL_SECONDS)
            for key in keys:
                pipe.set(key, "1", ex=PRESENCE_TTL_SECONDS)
            await pipe.execute()
        self._armed = True
        self._stale = False
        self._refreshed_at = asyncio.get_running_loop().time()
