"""Everything a process talks to, opened once and closed in reverse order.

The app's lifespan, ``chirp worker``, ``chirp migrate`` and the tests all open
the same :class:`Runtime`, so there is one way to start the embedded servers,
apply migrations and connect the pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    redis: Redis
    graph: GraphDriver
    ids: Snowflake
    #: The process's one pub/sub connection for live events.
    broker: Broker


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, run_migrations: bool = True
) -> AsyncIterator[Runtime]:
    """Start embedded servers as needed, connect, migrate; undo it all on exit."""
    async with contextlib.AsyncExitStack() as stack:
        if settings.embedded:
            servers = EmbeddedServers(settings)
            settings = await asyncio.to_thread(servers.start)
            stack.push_async_callback(asyncio.to_thread, servers.stop)
        assert settings.database_url and settings.redis_url
        db = await Database.connect(settings.database_url, settings.database_read_url)
        stack.push_async_callback(db.close)
        if run_migrations:
            await migrate(db)
        redis = connect_redis(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        graph = await open_graph(settings)
        stack.push_async_callback(graph.close)
        broker = Broker(redis)
        stack.push_async_callback(broker.close)
        yield Runtime(
            settings=settings,
            db=db,
            redis=redis,
            graph=graph,
            ids=Snowflake(settings.worker_id),
            broker=broker,
        )
