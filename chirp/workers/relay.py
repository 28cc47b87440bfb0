"""The outbox relay: moves committed events from Postgres to the Redis stream.

Claim, publish and delete happen in one Postgres transaction. If the process
dies after publishing but before the commit, the rows stay and are published
again: delivery is at-least-once and the consumers are idempotent. Nothing is
lost in between, because the rows were committed with the writes themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from chirp.persistence import outbox, streams
from chirp.runtime import Runtime

log = logging.getLogger(__name__)

#: Rows moved per transaction: amortises round trips, holds row locks briefly.
RELAY_BATCH = 500
#: Commits notify the relay; it also looks this often in case a notification
#: was missed (e.g. while its listening connection reconnected).
RELAY_IDLE_SECONDS = 1.0
#: After an error (Redis or Postgres unavailable) the relay retries this often.
RELAY_RETRY_SECONDS = 1.0


class Relay:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._wake = asyncio.Event()

    async def relay_once(self) -> int:
        """Move one batch; return how many events were moved."""
        async with self._rt.db.transaction() as tx:
            rows = await outbox.claim(tx, limit=RELAY_BATCH)
            if rows:
                await streams.publish(self._rt.redis, rows)
                await outbox.delete(tx, ids=[row.id for row in rows])
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        async with self._rt.db.pool.acquire() as listener:
            await listener.add_listener(outbox.CHANNEL, self._notified)
            try:
                while not stop.is_set():
                    try:
                        moved = await self.relay_once()
                    except Exception:
                        log.exception("outbox relay failed; retrying")
                        await _wait(stop, RELAY_RETRY_SECONDS)
                        continue
                    if moved < RELAY_BATCH:
                        await _wait_any(stop, self._wake, RELAY_IDLE_SECONDS)
                        self._wake.clear()
            finally:
                await listener.remove_listener(outbox.CHANNEL, self._notified)

    def _notified(self, *_args: object) -> None:
        self._wake.set()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
