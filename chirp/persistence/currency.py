"""Whether Redis still holds every event the relay gave it, and epochs to act on it.

Home timelines are built from Postgres and the graph, then kept current by
events from the stream. A Redis restored from an old snapshot (or failed over
to a replica that lagged) comes back with timelines that *exist*, so nothing
rebuilds them, yet miss every event relayed after the snapshot; and those
events are gone for good, because the relay deleted their outbox rows once
Redis had taken them. This module lets readers notice and rebuild.

**The mark.** Outbox ids are positions in the event history. The relay keeps
the highest id it has moved in two places: in Postgres (``outbox_relayed``,
raised in the transaction that deletes the rows) and in Redis (``relayed`` in
:data:`CURRENCY_KEY`, raised by the script that appends the entries). The
append comes before the commit, so in a Redis that lost nothing the Redis mark
is never below the Postgres one, and never goes down. A Redis mark below one
read from Postgres, or below one seen earlier in the same Redis, means this
Redis lost events.

**The epoch.** ``epoch`` in the same hash. Each timeline carries the epoch it
was built in (a ``#<epoch>`` marker, see timelines.py). Whoever finds Redis
behind runs :data:`RENEW_LUA` (atomically: bump the epoch, raise the mark to
what was expected), and from then on every older timeline reads as *stale*
and is rebuilt on its next read, like an absent one: one write invalidates
every timeline, and nothing is scanned.

**Who checks, and what it costs.** Every timeline read fetches the mark and
the epoch in the pipeline that reads the timeline (one ``HMGET`` more, no more
round trips) and compares the mark with this process's :class:`Watermark`:
the highest mark it has read from Postgres or seen in this Redis. The
watermark is read from Postgres (one query) at a process's first timeline
read and at the first after any Redis failure or skip, since a Redis that
went away may come back older (:func:`verify`). A relay may commit between
the Redis read and that query, so a mark found below it is read again from
Redis before it counts as a loss (one more round trip, in doubt only). The
relay checks too: each batch carries the Postgres mark read when it was
claimed, and the append script starts a new epoch first if Redis is behind
it, so any event relayed after a restore renews the epoch for every process.
A relay in this process also raises the watermark as it appends.

Limit: a reader process that neither restarted, nor saw a Redis failure, nor
read a mark newer than the snapshot's, serves the restored timelines until
the next event is relayed (by any relay) or it restarts. A restore that kept
the snapshot's mark lost nothing: the unacknowledged entries in the restored
stream are delivered again, and the handlers are idempotent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final
from weakref import WeakKeyDictionary

from redis.asyncio import Redis

from chirp.persistence import outbox
from chirp.persistence.lua import Script
from chirp.persistence.postgres import Executor

#: Hash of ``relayed`` (highest outbox id appended to the stream) and
#: ``epoch`` (of the timelines current in this Redis). Its hash tag puts it
#: in the stream's cluster slot: the append script takes both.
CURRENCY_KEY: Final = "{chirp:events}:currency"
#: The epoch of a Redis that never renewed one (the field is absent).
FIRST_EPOCH: Final = "0"

#: Lua for scripts that take the currency hash: marks are decimal strings
#: compared exactly (Lua numbers are doubles), and ``renew_if_behind`` starts
#: a new epoch when the hash's mark is below ``mark``.
RENEW_LUA: Final = """
local function greater(a, b) return #a > #b or (#a == #b and a > b) end
local function renew_if_behind(key, mark)
  if greater(mark, redis.call('HGET', key, 'relayed') or '0') then
    redis.call('HINCRBY', key, 'epoch', 1)
    redis.call('HSET', key, 'relayed', mark)
  end
end
"""

_SCRIPTS: list[Script] = []
#: KEYS: currency. ARGV: the mark expected.
_RENEW = Script(RENEW_LUA + "renew_if_behind(KEYS[1], ARGV[1])", registry=_SCRIPTS)


@dataclass(slots=True)
class Watermark:
    """What this process knows of one Redis's mark."""

    #: The highest mark read from Postgres or seen in this Redis.
    through: int = 0
    #: Whether Postgres was read since the process started or Redis last failed.
    verified: bool = False
    #: Redis failures so far: a Postgres read that overlapped one is not enough.
    doubts: int = 0
    _reading: asyncio.Task[None] | None = field(default=None, repr=False)


_watermarks: WeakKeyDictionary[Redis, Watermark] = WeakKeyDictionary()


def watermark(redis: Redis) -> Watermark:
    """This process's watermark for the Redis behind ``redis`` (one per client)."""
    found = _watermarks.get(redis)
    if found is None:
        found = _watermarks[redis] = Watermark()
    return found


async def verify(db: Executor, redis: Redis) -> int:
    """Raise the watermark to the mark in Postgres, unless done since the
    process started or Redis last failed; return the watermark.

    Concurrent callers share one query. A Redis mark read *before* this may
    be below it without any loss (a relay committed in between): compare a
    mark read after it (:func:`relayed`).
    """
    mark = watermark(redis)
    while not mark.verified:
        if mark._reading is None:
            mark._reading = asyncio.ensure_future(_read_durable(db, mark))
        await asyncio.shield(mark._reading)
    return mark.through


async def _read_durable(db: Executor, mark: Watermark) -> None:
    doubts = mark.doubts
    try:
        durable = await outbox.relayed_through(db)
    finally:
        mark._reading = None
    mark.through = max(mark.through, durable)
    mark.verified = mark.doubts == doubts


def doubt(redis: Redis) -> None:
    """Redis failed: it may come back older, so read Postgres again first."""
    mark = watermark(redis)
    mark.verified = False
    mark.doubts += 1


def behind(redis: Redis, relayed: int) -> int | None:
    """Record a mark read from Redis. When it is below the watermark (this
    Redis lost events), return the mark to :func:`renew` it to."""
    mark = watermark(redis)
    if relayed < mark.through:
        return mark.through
    mark.through = relayed
    return None


async def relayed(redis: Redis) -> int:
    """This Redis's mark, read on its own."""
    return int(await redis.hget(CURRENCY_KEY, "relayed") or 0)


async def renew(redis: Redis, *, through: int) -> None:
    """Start a new epoch unless another process did already (the mark moved up)."""
    await _RENEW(redis, keys=[CURRENCY_KEY], args=[through])


def parse(reply: list[str | None]) -> tuple[str, int]:
    """``(epoch, relayed)`` from ``HMGET CURRENCY_KEY epoch relayed``."""
    epoch, relayed = reply
    return epoch or FIRST_EPOCH, int(relayed or 0)
