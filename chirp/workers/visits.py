"""The visit flusher: moves uncapped links' visit counters from Redis to Postgres.

It runs in every app process (the processes that count visits), every
``CHIRP_VISIT_FLUSH_SECONDS``. Running it in several processes at once is
safe: ``RENAMENX`` hands the pending counters to one of them at a time, and
the batch id recorded with the Postgres writes stops a batch that two
flushers both picked up (one of them resuming after the other died) from
being added twice. See ``chirp.persistence.visit_counters``.

What a Redis flush (or loss) costs: the counters not yet flushed, i.e. at
most the last ``CHIRP_VISIT_FLUSH_SECONDS`` of uncapped links' visits.
Capped links count in Postgres directly and lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from chirp.persistence import links, visit_counters
from chirp.runtime import Runtime

log = logging.getLogger(__name__)


async def flush_once(rt: Runtime) -> int:
    """Flush one batch (an unfinished one first); return the visits it added
    (0 when there was none, or it had been added before its flusher died)."""
    batch = await visit_counters.take_batch(rt.redis)
    if batch is None:
        return 0
    added = await links.apply_visit_batch(
        rt.db, batch_id=batch.batch_id, daily=batch.daily, totals=batch.totals
    )
    await visit_counters.finish_batch(rt.redis, batch.batch_id)
    return sum(count for _, count in batch.totals) if added else 0


async def run(rt: Runtime, stop: asyncio.Event) -> None:
    """Flush every ``visit_flush_seconds`` until ``stop``, then once more."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rt.settings.visit_flush_seconds)
        try:
            await flush_once(rt)
        except Exception:  # Redis or Postgres away: the batch waits in Redis
            log.exception("visit flush failed; retrying in %s s", rt.settings.visit_flush_seconds)


@contextlib.asynccontextmanager
async def running_flusher(rt: Runtime) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(rt, stop), name="visit-flusher")
    try:
        yield
    finally:
        stop.set()
        await task
