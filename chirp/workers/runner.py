"""Starts and stops every worker of a process together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from chirp.runtime import Runtime
from chirp.workers import feeds, notifications, trends
from chirp.workers.consumer import StreamConsumer
from chirp.workers.relay import Relay


@contextlib.asynccontextmanager
async def running_workers(rt: Runtime) -> AsyncIterator[None]:
    """Run the relay and every consumer until the block exits."""
    stop = asyncio.Event()
    consumers = {
        "feed-worker": StreamConsumer(rt, group=feeds.GROUP, handler=feeds.handle),
        "notifications-worker": StreamConsumer(
            rt, group=notifications.GROUP, handler=notifications.handle
        ),
        "trends-worker": StreamConsumer(rt, group=trends.GROUP, handler=trends.handle),
    }
    tasks = [asyncio.create_task(Relay(rt).run(stop), name="outbox-relay")]
    tasks += [asyncio.create_task(c.run(stop), name=name) for name, c in consumers.items()]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
