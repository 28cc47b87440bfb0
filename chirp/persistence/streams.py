"""The event stream in Redis: publish, consumer groups, claims and acks.

One stream carries every feed event; each kind of worker is a consumer group
on it, so any number of worker processes share the work, and an entry taken
by a worker that died is claimed by another after ``min_idle_ms``. Appends
also keep the relay mark next to the stream (see currency.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from chirp.persistence import currency
from chirp.persistence.lua import Script
from chirp.persistence.outbox import OutboxRow

STREAM = "chirp:events"
DEAD_LETTERS = "chirp:events:dead"
#: Entries kept (approximately) in the stream. Far more than workers ever lag
#: behind; bounds memory if no worker runs for a long time.
STREAM_MAX_LEN = 1_000_000


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    kind: str
    payload: dict[str, Any]
    #: The outbox row it came from: the same for every copy of one event (a
    #: relay that dies before its commit sends the row again, as a new entry),
    #: so consumers can use it to make their writes idempotent.
    outbox_id: int


def _event(entry_id: str, fields: dict[str, str]) -> Event:
    return Event(
        id=entry_id,
        kind=fields["kind"],
        payload=json.loads(fields["payload"]),
        outbox_id=int(fields["outbox_id"]),
    )


_SCRIPTS: list[Script] = []
#: KEYS: stream, currency. ARGV: max length, the mark the rows were claimed
#: under, then kind, payload and outbox id of each row. Starts a new epoch
#: first if this Redis is behind the mark (it lost events: restored from an
#: old snapshot), then appends and raises the mark, all at once: a snapshot
#: never holds a mark above the entries it holds.
_PUBLISH = Script(
    currency.RENEW_LUA
    + """
renew_if_behind(KEYS[2], ARGV[2])
local relayed = redis.call('HGET', KEYS[2], 'relayed') or '0'
for i = 3, #ARGV, 3 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
    'kind', ARGV[i], 'payload', ARGV[i + 1], 'outbox_id', ARGV[i + 2])
  if greater(ARGV[i + 2], relayed) then relayed = ARGV[i + 2] end
end
redis.call('HSET', KEYS[2], 'relayed', relayed)
return relayed
""",
    registry=_SCRIPTS,
)


async def publish(redis: Redis, rows: Sequence[OutboxRow]) -> None:
    """Append outbox rows to the stream in one round trip (one script)."""
    if not rows:
        return
    args: list[str | int] = [STREAM_MAX_LEN, max(row.relayed_through for row in rows)]
    for row in rows:
        args += [row.kind, json.dumps(row.payload), row.id]
    try:
        relayed = await _PUBLISH(redis, keys=[STREAM, currency.CURRENCY_KEY], args=args)
    except (RedisError, OSError):
        currency.doubt(redis)
        raise
    currency.behind(redis, int(relayed))  # readers renew if it is behind


async def ensure_group(redis: Redis, *, group: str) -> None:
    """Create the group (reading from the start of the stream) unless it exists."""
    try:
        await redis.xgroup_create(STREAM, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def read_new(
    redis: Redis, *, group: str, consumer: str, count: int, block_ms: int
) -> list[Event]:
    reply = await redis.xreadgroup(group, consumer, {STREAM: ">"}, count=count, block=block_ms)
    return [_event(entry_id, fields) for _, entries in reply or [] for entry_id, fields in entries]


async def claim_stale(
    redis: Redis, *, group: str, consumer: str, min_idle_ms: int, count: int
) -> list[Event]:
    """Entries other consumers took more than ``min_idle_ms`` ago and never acked."""
    reply = await redis.xautoclaim(STREAM, group, consumer, min_idle_ms, "0-0", count=count)
    entries = reply[1]
    return [_event(entry_id, fields) for entry_id, fields in entries if fields]


async def deliveries(redis: Redis, *, group: str, event_id: str) -> int:
    """How often the entry was delivered (1 the first time)."""
    info = await redis.xpending_range(STREAM, group, min=event_id, max=event_id, count=1)
    return info[0]["times_delivered"] if info else 0


async def ack(redis: Redis, *, group: str, event_ids: Sequence[str]) -> None:
    if event_ids:
        await redis.xack(STREAM, group, *event_ids)


async def dead_letter(redis: Redis, *, group: str, event: Event, error: str) -> None:
    """Set aside an entry that keeps failing, so it stops blocking the group."""
    fields = {"kind": event.kind, "payload": json.dumps(event.payload), "id": event.id}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(DEAD_LETTERS, {**fields, "group": group, "error": error[:1000]})
        pipe.xack(STREAM, group, event.id)
        await pipe.execute()


async def is_drained(redis: Redis, *, group: str) -> bool:
    """Whether the group has handled every entry: none pending, none undelivered."""
    if not await redis.exists(STREAM):
        return True
    groups = {g["name"]: g for g in await redis.xinfo_groups(STREAM)}
    if group not in groups:
        return await redis.xlen(STREAM) == 0
    last_delivered = groups[group]["last-delivered-id"]
    undelivered = await redis.xrange(STREAM, min=f"({last_delivered}", max="+", count=1)
    return groups[group]["pending"] == 0 and not undelivered
