"""A consumer-group worker on the event stream.

Each step first claims entries that another consumer took and never acked
(it died mid-way), then reads new ones. An entry is acked only after its
handler finished, so a crash redelivers it; handlers are idempotent, so a
redelivery changes nothing twice. An entry that keeps failing is moved to a
dead-letter stream after ``MAX_DELIVERIES`` so it cannot block the rest.

When Redis goes away (a restart, a failover) every step fails until it is
back; the consumer retries with backoff (redis-py opens a new connection on
the next command), logs the outage once rather than once per attempt, and
starts again from the first retry delay as soon as a step succeeds. A Redis
that comes back empty has lost its groups: each step re-creates its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Final

from chirp.backoff import Backoff
from chirp.persistence import streams
from chirp.persistence.streams import Event
from chirp.runtime import Runtime

log = logging.getLogger(__name__)

#: An entry taken but not acked for this long is presumed lost with its
#: consumer and claimed by another. Longer than any handler runs (a fan-out
#: to 10,000 followers takes well under a second).
CLAIM_IDLE_MS = 30_000
#: Entries per read or claim: one round trip amortised over many events.
BATCH = 100
#: How long a read blocks waiting for new entries before the loop checks stop.
BLOCK_MS = 1_000
#: A failing entry is retried (after CLAIM_IDLE_MS each time) this often,
#: then dead-lettered.
MAX_DELIVERIES = 5
#: After Redis errors the loop retries after this, doubling up to the cap: a
#: restart is back within a second or two; a long outage costs a few
#: attempts a minute per consumer.
RETRY_INITIAL_SECONDS: Final = 0.1
RETRY_MAX_SECONDS: Final = 5.0

Handler = Callable[[Runtime, Event], Awaitable[None]]


def consumer_name() -> str:
    """Unique per process, stable for its life: claims name the dead by it."""
    return f"{socket.gethostname()}-{os.getpid()}"


class StreamConsumer:
    def __init__(
        self,
        rt: Runtime,
        *,
        group: str,
        handler: Handler,
        name: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self._rt = rt
        self.group = group
        self.name = name or consumer_name()
        self._handler = handler
        self._claim_idle_ms = claim_idle_ms
        self._backoff = Backoff(initial=RETRY_INITIAL_SECONDS, cap=RETRY_MAX_SECONDS)
        #: The last wait after a failed step (0 before any).
        self.retry_delay = 0.0

    @property
    def failures(self) -> int:
        """Steps failed in a row (0 once one succeeds)."""
        return self._backoff.failures

    async def step(self, *, block_ms: int = BLOCK_MS) -> int:
        """Handle claimable and new entries once; return how many were handled."""
        redis = self._rt.redis
        await streams.ensure_group(redis, group=self.group)
        events = await streams.claim_stale(
            redis,
            group=self.group,
            consumer=self.name,
            min_idle_ms=self._claim_idle_ms,
            count=BATCH,
        )
        if not events:
            events = await streams.read_new(
                redis, group=self.group, consumer=self.name, count=BATCH, block_ms=block_ms
            )
        done = [event.id for event in events if await self._handle(event)]
        await streams.ack(redis, group=self.group, event_ids=done)
        return len(events)

    async def _handle(self, event: Event) -> bool:
        """True when the entry may be acked."""
        try:
            await self._handler(self._rt, event)
        except Exception as exc:
            log.exception("%s: handling %s %s failed", self.group, event.kind, event.id)
            redis = self._rt.redis
            delivered = await streams.deliveries(redis, group=self.group, event_id=event.id)
            if delivered >= MAX_DELIVERIES:
                await streams.dead_letter(redis, group=self.group, event=event, error=repr(exc))
            return False
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except Exception:
                if not self.failures:
                    log.exception("%s: stream read failed; retrying with backoff", self.group)
                self.retry_delay = self._backoff.next_delay()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_delay)
                continue
            if self.failures:
                log.info("%s: stream reads work again after %d failures", self.group, self.failures)
                self._backoff.reset()
