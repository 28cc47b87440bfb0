"""The outbox relay: moves committed events from Postgres to the Redis stream.

Claim, publish and delete happen in one Postgres transaction. If the process
dies after publishing but before the commit, the rows stay and are published
again: delivery is at-least-once and the consumers are idempotent. Nothing is
lost in between, because the rows were committed with the writes themselves.

Commits wake the relay through LISTEN/NOTIFY on a connection of its own (not
the pool's: asyncpg detaches a pool connection that dies, and a listener
should not take a query slot). That connection dies with its server (a
Postgres restart or failover), and a dead one hears nothing: the relay would fall back to its
once-a-second poll for good. So the relay watches it (asyncpg reports its
termination), and opens a new one with backoff until it succeeds, polling
meanwhile; the first pass after listening again moves whatever was committed
while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import asyncpg

from chirp.backoff import Backoff
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
#: Re-opening the LISTEN connection: a restart is usually back within
#: seconds; during a long outage one attempt per 5 s is plenty, as the poll
#: above keeps events moving whenever Postgres answers at all.
LISTEN_RETRY_INITIAL_SECONDS: Final = 0.1
LISTEN_RETRY_MAX_SECONDS: Final = 5.0
#: One attempt to connect for LISTEN gives up after this (asyncpg's default
#: is a minute, which would stall the relay's loop meanwhile).
LISTEN_CONNECT_TIMEOUT_SECONDS: Final = 5.0


class Relay:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listen_backoff = Backoff(
            initial=LISTEN_RETRY_INITIAL_SECONDS, cap=LISTEN_RETRY_MAX_SECONDS
        )
        self._listen_at = 0.0
        self._failing = False
        #: Times a LISTEN was set up (2 after one reconnect).
        self.listens = 0

    @property
    def listening(self) -> bool:
        """Whether a live connection is LISTENing for commits."""
        return self._listener is not None and not self._listener.is_closed()

    async def relay_once(self) -> int:
        """Move one batch; return how many events were moved."""
        async with self._rt.db.transaction() as tx:
            rows = await outbox.claim(tx, limit=RELAY_BATCH)
            if rows:
                await streams.publish(self._rt.redis, rows)
                await outbox.delete(tx, ids=[row.id for row in rows])
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self._ensure_listening()
                try:
                    moved = await self.relay_once()
                except Exception:
                    if not self._failing:  # once per outage, not once a second
                        log.exception("outbox relay failed; retrying")
                    self._failing = True
                    await _wait(stop, RELAY_RETRY_SECONDS)
                    continue
                if self._failing:
                    log.info("outbox relay works again")
                    self._failing = False
                if moved < RELAY_BATCH:
                    await _wait_any(stop, self._wake, self._idle_seconds())
                    self._wake.clear()
        finally:
            await self._unlisten()

    def _idle_seconds(self) -> float:
        """The poll interval; shorter when a LISTEN attempt is due sooner."""
        if self.listening:
            return RELAY_IDLE_SECONDS
        due = self._listen_at - asyncio.get_running_loop().time()
        return max(0.0, min(RELAY_IDLE_SECONDS, due))

    async def _ensure_listening(self) -> None:
        """LISTEN on a fresh connection if the last one died, when the backoff allows."""
        if self.listening or asyncio.get_running_loop().time() < self._listen_at:
            return
        await self._unlisten()
        url = self._rt.settings.database_url
        try:
            connection = await asyncpg.connect(url, timeout=LISTEN_CONNECT_TIMEOUT_SECONDS)
            try:
                await connection.add_listener(outbox.CHANNEL, self._notified)
                connection.add_termination_listener(self._terminated)
            except BaseException:
                connection.terminate()
                raise
        except Exception as exc:
            delay = self._listen_backoff.next_delay()
            self._listen_at = asyncio.get_running_loop().time() + delay
            level = logging.WARNING if self._listen_backoff.failures == 1 else logging.DEBUG
            log.log(level, "outbox relay cannot LISTEN (%r); retrying in %.1f s", exc, delay)
            return
        self._listener = connection
        self._listen_backoff.reset()
        self.listens += 1
        if self.listens > 1:
            log.info("outbox relay is listening again")

    async def _unlisten(self) -> None:
        """Close the listening connection, dead or alive."""
        connection, self._listener = self._listener, None
        if connection is None:
            return
        connection.remove_termination_listener(self._terminated)
        try:
            await asyncio.wait_for(connection.close(), LISTEN_CONNECT_TIMEOUT_SECONDS)
        except Exception:  # dead already, or not answering: drop the socket
            connection.terminate()

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    def _terminated(self, *_args: object) -> None:
        """The LISTEN connection closed (server restart): wake up to replace it."""
        log.warning("outbox relay lost its LISTEN connection")
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
