"""Visit counters of uncapped short links in Redis, waiting to be flushed to Postgres.

All pending visits live in one hash, ``PENDING``: ``t|<code>`` holds a link's
total, ``d|<YYYY-MM-DD>|<code>`` its visits on a UTC day, and ``batch`` a
random id given to the hash when its first counter was added (in the same
MULTI). Any number of app processes add to it.

Hand-off to Postgres is atomic: ``RENAMENX PENDING FLUSHING`` moves every
pending counter at once (new visits start a fresh ``PENDING``). The flusher
then adds ``FLUSHING`` to Postgres in one transaction that also records its
batch id, and deletes ``FLUSHING`` only if it still holds that batch. A
flusher that dies at any point leaves ``FLUSHING`` behind; the next flush (of
any process) finds it, because ``RENAMENX`` refuses to overwrite it, and
finishes it; the recorded batch id stops it from being added twice.

Readers add ``PENDING`` and ``FLUSHING`` to the Postgres counts only for
batch ids Postgres has not applied (read in the same snapshot as the
counts), so no visit is counted twice, even mid-flush.

The keys share the hash tag ``{visits}``, so they live on one Redis Cluster
slot, as RENAMENX needs.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from redis.asyncio import Redis
from redis.exceptions import ResponseError

PENDING = "chirp:{visits}:pending"
FLUSHING = "chirp:{visits}:flushing"
BATCH_FIELD = "batch"

#: Deletes the flushed batch only if it is still the one flushed (another
#: process may have finished it and a new batch may have taken its place).
_DELETE_IF_BATCH = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _total_field(code: str) -> str:
    return f"t|{code}"


def _day_field(code: str, day: date) -> str:
    return f"d|{day.isoformat()}|{code}"


def new_batch_id() -> str:
    return uuid.uuid4().hex


async def add_visits(redis: Redis, visits: Mapping[tuple[str, date], int]) -> None:
    """Add visits per (code, UTC day) to ``PENDING`` in one atomic MULTI."""
    if not visits:
        return
    totals: Counter[str] = Counter()
    async with redis.pipeline(transaction=True) as pipe:
        for (code, day), count in visits.items():
            totals[code] += count
            pipe.hincrby(PENDING, _day_field(code, day), count)
        for code, count in totals.items():
            pipe.hincrby(PENDING, _total_field(code), count)
        pipe.hsetnx(PENDING, BATCH_FIELD, new_batch_id())
        await pipe.execute()


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """What one Redis hash holds for the codes and days asked about."""

    batch_id: str | None
    totals: dict[str, int]
    days: dict[tuple[str, date], int]


async def pending(
    redis: Redis, *, codes: Sequence[str], days: Sequence[date] = ()
) -> list[PendingBatch]:
    """The not-yet-flushed visits of ``codes`` in ``PENDING`` and ``FLUSHING``,
    read together in one MULTI (a consistent view of both hashes)."""
    day_keys = [(code, day) for code in codes for day in days]
    fields = (
        [BATCH_FIELD]
        + [_total_field(code) for code in codes]
        + [_day_field(code, day) for code, day in day_keys]
    )
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(PENDING, fields)
        pipe.hmget(FLUSHING, fields)
        answers = await pipe.execute()
    batches = []
    for values in answers:
        batch_id, totals, daily = values[0], values[1 : 1 + len(codes)], values[1 + len(codes) :]
        batches.append(
            PendingBatch(
                batch_id=batch_id,
                totals={code: int(n) for code, n in zip(codes, totals, strict=True) if n},
                days={key: int(n) for key, n in zip(day_keys, daily, strict=True) if n},
            )
        )
    return batches


@dataclass(frozen=True, slots=True)
class FlushBatch:
    batch_id: str
    totals: list[tuple[str, int]]
    daily: list[tuple[str, date, int]]


async def take_batch(redis: Redis) -> FlushBatch | None:
    """Move the pending counters into ``FLUSHING`` (or resume an unfinished
    batch found there) and return them; None when there is nothing to flush."""
    try:
        await redis.renamenx(PENDING, FLUSHING)
    except ResponseError as exc:  # no PENDING; FLUSHING may still hold an old batch
        if "no such key" not in str(exc).lower():
            raise
    fields: dict[str, str] = await redis.hgetall(FLUSHING)
    if not fields:
        return None
    batch_id = fields.pop(BATCH_FIELD, None)
    if batch_id is None:
        # Every batch gets its id with its first counter; this only names a
        # hash that somehow lacks one, so that retries agree on its id.
        await redis.hsetnx(FLUSHING, BATCH_FIELD, new_batch_id())
        batch_id = await redis.hget(FLUSHING, BATCH_FIELD)
        assert batch_id is not None
    if not fields:
        await finish_batch(redis, batch_id)
        return None
    totals, daily = [], []
    for field, value in fields.items():
        kind, _, rest = field.partition("|")
        if kind == "t":
            totals.append((rest, int(value)))
        elif kind == "d":
            day, _, code = rest.partition("|")
            daily.append((code, date.fromisoformat(day), int(value)))
    return FlushBatch(batch_id=batch_id, totals=sorted(totals), daily=sorted(daily))


async def finish_batch(redis: Redis, batch_id: str) -> None:
    """Delete ``FLUSHING`` if it still holds ``batch_id``."""
    await redis.eval(_DELETE_IF_BATCH, 1, FLUSHING, BATCH_FIELD, batch_id)
