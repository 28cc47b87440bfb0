"""Everything a process talks to, opened once and closed in reverse order.

The app's lifespan, ``chirp worker``, ``chirp migrate`` and the tests all open
the same :class:`Runtime`, so there is one way to start the embedded servers,
apply migrations and connect the pools.

Closing is bounded: each step gets ``CLOSE_STEP_SECONDS`` and a stuck one is
left behind (logged) so the steps after it, stopping the embedded servers
last, still run. :func:`cancel_and_wait` is the bounded way to stop tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis

from chirp.config import Settings
from chirp.graph.drivers import GraphDriver, open_graph
from chirp.ids import Snowflake
from chirp.persistence.embedded import EmbeddedServers
from chirp.persistence.migrations import migrate
from chirp.persistence.postgres import Database
from chirp.persistence.pubsub import Broker
from chirp.persistence.redis import connect_redis

log = logging.getLogger(__name__)

#: A task that was cancelled and has not ended after this long is cancelled
#: again. Python 3.11's ``asyncio.wait_for`` (redis-py calls it for every
#: socket write) drops a cancellation that arrives as the awaited write
#: completes, so one ``cancel()`` can be lost and a task in a ``while True``
#: loop then never ends. Long enough not to cut short a cleanup that awaits
#: (a few round trips), short enough that a lost cancel costs one second.
RECANCEL_SECONDS: Final = 1.0
#: Closing one resource (a pool, the broker, the graph) takes milliseconds;
#: one that takes this long is stuck and is abandoned so the rest still close.
CLOSE_STEP_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    redis: Redis
    graph: GraphDriver
    ids: Snowflake
    #: The process's one pub/sub connection for live events.
    broker: Broker


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], *, seconds: float
) -> set[asyncio.Future[Any]]:
    """Cancel ``tasks`` and wait up to ``seconds`` for them to end, cancelling
    again every ``RECANCEL_SECONDS`` (see there why once is not enough).
    Returns those still running at the deadline; the caller decides whether to
    log and abandon them. Never raises what the tasks raise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_SECONDS, remaining))
    return pending


async def _bounded(name: str, close: Callable[[], Awaitable[Any]]) -> None:
    """One closing step, given ``CLOSE_STEP_SECONDS``; a failure or a hang is
    logged and left behind so that the next steps run."""
    task = asyncio.ensure_future(close())
    done, _ = await asyncio.wait({task}, timeout=CLOSE_STEP_SECONDS)
    if not done:
        await cancel_and_wait({task}, seconds=RECANCEL_SECONDS)
        log.error("closing %s took over %.0f s; left behind", name, CLOSE_STEP_SECONDS)
    elif not task.cancelled() and task.exception() is not None:
        log.error("closing %s failed", name, exc_info=task.exception())


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, run_migrations: bool = True
) -> AsyncIterator[Runtime]:
    """Start embedded servers as needed, connect, migrate; undo it all on exit."""
    async with contextlib.AsyncExitStack() as stack:
        if settings.embedded:
            servers = EmbeddedServers(settings)
            settings = await asyncio.to_thread(servers.start)
            # Not bounded by _bounded: it runs in a thread, and its own steps
            # are bounded (embedded.py); it must finish before the process ends.
            stack.push_async_callback(asyncio.to_thread, servers.stop)
        assert settings.database_url and settings.redis_url
        db = await Database.connect(settings.database_url, settings.database_read_url)
        stack.push_async_callback(_bounded, "postgres pool", db.close)
        if run_migrations:
            await migrate(db)
        redis = connect_redis(settings.redis_url)
        stack.push_async_callback(_bounded, "redis pool", redis.aclose)
        graph = await open_graph(settings)
        stack.push_async_callback(_bounded, "graph", graph.close)
        broker = Broker(redis)
        stack.push_async_callback(_bounded, "broker", broker.close)
        yield Runtime(
            settings=settings,
            db=db,
            redis=redis,
            graph=graph,
            ids=Snowflake(settings.worker_id),
            broker=broker,
        )
