"""The embedded redis-server is supervised: killed, it is started again on the
same socket and data directory within a bound, by Chirp itself; and readiness
says what is degraded (200) or unavailable (503).

Each test runs on servers of its own (a private DATA_DIR).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from chirp.app import create_app
from chirp.config import Settings
from chirp.persistence.embedded import (
    REDIS_START_TIMEOUT_SECONDS,
    REDIS_WATCH_SECONDS,
    EmbeddedServers,
)
from chirp.persistence.tokens import KEY_PREFIX
from chirp.runtime import Runtime, open_runtime
from tests.support import eventually

#: A killed redis-server answers again within this: one supervisor check, a
#: start, and slack for a loaded two-core box.
RESTART_BOUND_SECONDS = REDIS_WATCH_SECONDS + REDIS_START_TIMEOUT_SECONDS
#: readyz answers within its per-check timeout (2 s) plus slack.
READYZ_BOUND_SECONDS = 3.0


@pytest.fixture
async def private(tmp_path: Path) -> AsyncIterator[tuple[Runtime, EmbeddedServers]]:
    servers = EmbeddedServers(Settings(data_dir=tmp_path / "data"))
    settings = await asyncio.to_thread(servers.start)
    try:
        async with open_runtime(settings) as rt:
            yield rt, servers
    finally:
        await asyncio.to_thread(servers.stop)


@contextlib.asynccontextmanager
async def api(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=rt)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


async def readyz(http: httpx.AsyncClient) -> httpx.Response:
    started = time.monotonic()
    response = await http.get("/readyz")
    assert time.monotonic() - started < READYZ_BOUND_SECONDS
    return response


async def test_a_killed_redis_server_is_restarted_on_the_same_socket(
    private: tuple[Runtime, EmbeddedServers],
) -> None:
    rt, servers = private
    await rt.redis.set("kept", "from the snapshot")
    await rt.redis.set(f"{KEY_PREFIX}deadbeef", "42")  # a cached session
    await rt.redis.save()
    pid = servers.redis_pid
    assert pid is not None
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    async def restarted() -> bool:  # counted once it is up and purged
        return servers.redis_restarts == 1

    await eventually(restarted, RESTART_BOUND_SECONDS)
    assert time.monotonic() - killed_at < RESTART_BOUND_SECONDS
    # The same client, so the same unix socket URL: nothing was reconfigured.
    assert await rt.redis.ping()
    new_pid = servers.redis_pid
    assert new_pid is not None and new_pid != pid
    assert Path(psutil.Process(new_pid).cwd()) == servers.data_dir
    # Restarted from its snapshot, minus the cached sessions (the snapshot may
    # predate a log-out).
    assert await rt.redis.get("kept") == "from the snapshot"
    assert await rt.redis.get(f"{KEY_PREFIX}deadbeef") is None
    async with api(rt) as http:
        response = await readyz(http)
        assert response.status_code == 200 and response.json()["status"] == "ready"


async def test_it_is_restarted_again_and_again(
    private: tuple[Runtime, EmbeddedServers],
) -> None:
    rt, servers = private
    for round_ in range(1, 3):
        pid = servers.redis_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

        async def restarted(expected: int = round_, old: int = pid) -> bool:
            return servers.redis_restarts == expected and servers.redis_pid not in (None, old)

        await eventually(restarted, RESTART_BOUND_SECONDS)
        assert await rt.redis.ping()


async def test_a_stopped_redis_is_degraded_not_unavailable(
    private: tuple[Runtime, EmbeddedServers],
) -> None:
    rt, servers = private
    pid = servers.redis_pid
    assert pid is not None
    async with api(rt) as http:
        os.kill(pid, signal.SIGSTOP)
        try:
            response = await readyz(http)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "degraded"
        assert body["checks"]["redis"] == "unavailable (TimeoutError)"
        assert body["checks"]["postgres"] == body["checks"]["graph"] == "ok"
        assert servers.redis_restarts == 0  # stopped is not dead

        async def ready() -> bool:
            return (await readyz(http)).json()["status"] == "ready"

        await eventually(ready, RESTART_BOUND_SECONDS)


@contextlib.contextmanager
def postgres_stopped(data_dir: Path) -> Iterator[None]:
    """SIGSTOP the private postmaster and its backends; SIGCONT whatever happens."""
    pgdata = str(data_dir / "postgres")
    postmaster = next(
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and pgdata in (p.info["cmdline"] or [])
    )
    stopped = [postmaster, *postmaster.children(recursive=True)]
    for process in stopped:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


async def test_a_stopped_postgres_is_unavailable(
    private: tuple[Runtime, EmbeddedServers],
) -> None:
    rt, servers = private
    async with api(rt) as http:
        with postgres_stopped(servers.data_dir):
            response = await readyz(http)
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["postgres"].startswith("unavailable")
        assert body["checks"]["redis"] == body["checks"]["graph"] == "ok"

        async def ready() -> bool:
            return (await readyz(http)).status_code == 200

        await eventually(ready, RESTART_BOUND_SECONDS)
