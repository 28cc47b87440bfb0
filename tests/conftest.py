"""Shared fixtures: real embedded Postgres, Redis and Ladybug, started once per session.

Each test that uses ``client`` or ``clean`` starts from empty tables, an empty
Redis and an empty graph. The app runs in-process behind httpx's ASGI
transport, lifespan included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from chirp.app import create_app
from chirp.config import Settings
from chirp.graph.follows import FollowGraph
from chirp.persistence.embedded import EmbeddedServers
from chirp.runtime import Runtime, open_runtime


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at embedded servers started once for the whole session."""
    base = Settings(data_dir=tmp_path_factory.mktemp("chirp-data"))
    servers = EmbeddedServers(base)
    resolved = servers.start()
    yield resolved
    servers.stop()


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings) as rt:
        # The EXPLAIN tests judge plans on tables whose statistics were never
        # gathered; autovacuum analysing whatever earlier tests left behind
        # would make their verdict depend on test order.
        await rt.db.execute("ALTER SYSTEM SET autovacuum = off")
        await rt.db.execute("SELECT pg_reload_conf()")
        yield rt


@pytest.fixture
async def clean(runtime: Runtime) -> Runtime:
    """Empty every table (but the migration log), Redis and the graph."""
    tables = await runtime.db.fetch(
        "SELECT tablename FROM pg_tables "
        "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
    )
    if tables:
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        await runtime.db.execute(f"TRUNCATE {names} CASCADE")
    await runtime.redis.flushall()
    await FollowGraph(runtime.graph).clear()
    return runtime


@pytest.fixture
async def client(clean: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=clean)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http,
    ):
        yield http
