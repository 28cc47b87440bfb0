"""Accounts without Redis: a stopped (SIGSTOP) or killed (SIGKILL) embedded
redis-server under a client that keeps logging in, reading and writing.

Each test runs on servers of its own (a private DATA_DIR), so the session's
Redis is never touched. Every request must answer within a bound, no
acknowledged write may be lost, a token revoked during the outage must stay
revoked once Redis is back, and readiness returns to "ready" by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chirp.app import create_app
from chirp.config import Settings
from chirp.ids import from_global_id
from chirp.persistence import tokens
from chirp.persistence.embedded import EmbeddedServers
from chirp.persistence.redis import (
    BREAKER_OPEN_SECONDS,
    FALLBACK_TIMEOUT_SECONDS,
    RedisUnavailable,
    guarded,
)
from chirp.runtime import Runtime, open_runtime
from chirp.services import accounts
from tests.support import PASSWORD, SIGN_UP, error_codes, eventually, sign_up

LOG_IN = """
mutation LogIn($handle: String!, $password: String!) {
  logIn(handle: $handle, password: $password) { token user { handle } }
}
"""
LOG_OUT = "mutation { logOut }"
VIEWER = "{ viewer { handle } }"
POST = "mutation Post($text: String!) { postTweet(text: $text) { id text } }"
READ = "query Read($id: ID!) { tweet(id: $id) { id text author { handle } } }"

#: Any request, during the outage included, answers within this (a correctness
#: bound: without the fallback a request waited 5 s on the socket, then failed).
REQUEST_BOUND_SECONDS = 3.0
#: Redis back (SIGCONT, or restarted by the supervisor) is used again and
#: readiness says "ready" within this: the breaker's interval, a restart, slack
#: for a busy two-core box.
RECOVERY_SECONDS = 20.0
#: A call skipped by the open breaker fails at once; this is generous for "at once".
SKIPPED_CALL_SECONDS = 0.1
#: Requests of each kind sent during the outage.
ROUNDS = 4


@pytest.fixture
async def private(tmp_path: Path) -> AsyncIterator[tuple[Runtime, EmbeddedServers]]:
    """A runtime on a Postgres and a supervised redis-server of its own."""
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


@contextlib.contextmanager
def redis_stopped(pid: int) -> Any:
    """SIGSTOP the redis-server; SIGCONT it whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


async def timed_gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """POST a document; fail if the answer took REQUEST_BOUND_SECONDS or more."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    elapsed = time.monotonic() - started
    assert elapsed < REQUEST_BOUND_SECONDS, f"{query.split()[0:3]} took {elapsed:.2f} s"
    assert response.status_code == 200, response.text
    return response.json()


async def readiness(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    started = time.monotonic()
    response = await http.get("/readyz")
    assert time.monotonic() - started < REQUEST_BOUND_SECONDS
    return response.status_code, response.json()


async def use_the_api_during_outage(
    http: httpx.AsyncClient, *, token: str, doomed: str, still_down: bool
) -> list[str]:
    """Log in, read, write and log out while Redis is unavailable; return the
    ids of the tweets whose posting was acknowledged. ``still_down``: Redis is
    known to be unavailable at the end too (a killed one may be back already)."""
    posted = []
    for n in range(ROUNDS):
        login = await timed_gql(http, LOG_IN, {"handle": "alice", "password": PASSWORD})
        assert "errors" not in login, login
        fresh = login["data"]["logIn"]["token"]
        for each in (token, fresh):
            viewer = await timed_gql(http, VIEWER, token=each)
            assert viewer == {"data": {"viewer": {"handle": "alice"}}}
        body = await timed_gql(http, POST, {"text": f"written during the outage {n}"}, token=token)
        assert "errors" not in body, body
        tweet = body["data"]["postTweet"]
        posted.append(tweet["id"])
        read = await timed_gql(http, READ, {"id": tweet["id"]}, token=fresh)
        assert read["data"]["tweet"]["text"] == tweet["text"]
    signed = await timed_gql(http, SIGN_UP, {"handle": "newcomer", "password": PASSWORD})
    assert "errors" not in signed, signed
    # Revoked while Redis cannot hear of it: Postgres is the record.
    assert (await timed_gql(http, LOG_OUT, token=doomed))["data"]["logOut"] is True
    assert error_codes(await timed_gql(http, VIEWER, token=doomed)) == ["UNAUTHENTICATED"]
    status, body = await readiness(http)
    assert status == 200, body
    assert body["checks"]["postgres"] == body["checks"]["graph"] == "ok", body
    if still_down:
        assert body["status"] == "degraded", body
        assert body["checks"]["redis"].startswith("unavailable"), body
    return posted


async def check_recovered(
    http: httpx.AsyncClient, rt: Runtime, *, token: str, doomed: str, posted: list[str]
) -> None:
    async def ready() -> bool:
        status, body = await readiness(http)
        return status == 200 and body["status"] == "ready"

    await eventually(ready, RECOVERY_SECONDS)
    # The revocation reached the cache before the cache was trusted again: the
    # entry cached at log-in (still in Redis's memory, or in its snapshot) is
    # a tombstone now, not the owner.
    assert error_codes(await timed_gql(http, VIEWER, token=doomed)) == ["UNAUTHENTICATED"]
    digest = accounts.token_digest(doomed)
    assert await tokens.cached_user_id(rt.redis, digest=digest) is False
    assert (await timed_gql(http, VIEWER, token=token))["data"]["viewer"]["handle"] == "alice"
    # Every acknowledged write is in Postgres.
    ids = [from_global_id(gid)[1] for gid in posted]
    stored = await rt.db.fetchval("SELECT count(*) FROM tweets WHERE id = ANY($1)", ids)
    assert stored == len(posted) == ROUNDS


async def test_accounts_keep_working_while_redis_is_stopped(
    private: tuple[Runtime, EmbeddedServers],
) -> None:
    rt, servers = private
    async with api(rt) as http:
        token, _ = await sign_up(http, "alice")
        doomed = (await timed_gql(http, LOG_IN, {"handle": "alice", "password": PASSWORD}))["data"][
            "logIn"
        ]["token"]
        assert (await timed_gql(http, VIEWER, token=doomed))["data"]["viewer"] is not None
        pid = servers.redis_pid
        assert pid is not None
        with redis_stopped(pid):
            posted = await use_the_api_during_outage(
                http, token=token, doomed=doomed, still_down=True
            )
        await check_recovered(http, rt, token=token, doomed=doomed, posted=posted)
        assert servers.redis_restarts == 0  # stopped is not dead: nothing restarted


async def test_accounts_keep_working_while_redis_is_killed_and_restarted(
    private: tuple[Runtime, EmbeddedServers],
) -> None:
    rt, servers = private
    async with api(rt) as http:
        token, _ = await sign_up(http, "alice")
        doomed = (await timed_gql(http, LOG_IN, {"handle": "alice", "password": PASSWORD}))["data"][
            "logIn"
        ]["token"]
        # The snapshot a restart reloads holds the doomed token's cache entry.
        await rt.redis.save()
        pid = servers.redis_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        # The first requests run at once, well inside the supervisor's check
        # interval; the breaker then keeps them off Redis for its interval.
        posted = await use_the_api_during_outage(http, token=token, doomed=doomed, still_down=False)
        await check_recovered(http, rt, token=token, doomed=doomed, posted=posted)
        assert servers.redis_restarts >= 1 and servers.redis_pid != pid


async def test_a_stopped_redis_is_skipped_not_waited_for(
    private: tuple[Runtime, EmbeddedServers],
) -> None:
    """One call pays the fallback timeout and opens the breaker; the calls after
    it fail at once; after the breaker's interval Redis is tried and used again."""
    rt, servers = private
    pid = servers.redis_pid
    assert pid is not None
    with redis_stopped(pid):
        started = time.monotonic()
        with pytest.raises(RedisUnavailable):
            await guarded(rt.redis, rt.redis.ping)
        assert time.monotonic() - started < FALLBACK_TIMEOUT_SECONDS + SKIPPED_CALL_SECONDS
        for _ in range(20):
            started = time.monotonic()
            with pytest.raises(RedisUnavailable, match="skipped"):
                await guarded(rt.redis, rt.redis.ping)
            assert time.monotonic() - started < SKIPPED_CALL_SECONDS
    resumed = time.monotonic()

    async def answers() -> bool:
        try:
            return bool(await guarded(rt.redis, rt.redis.ping))
        except RedisUnavailable:
            return False

    await eventually(answers, RECOVERY_SECONDS)
    assert time.monotonic() - resumed < BREAKER_OPEN_SECONDS + RECOVERY_SECONDS


async def test_a_late_cache_fill_cannot_revive_a_revoked_token(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    """A request that read the token from Postgres just before logOut and fills
    the cache just after it must not make the token live again."""
    token, _ = await sign_up(client, "racer")
    user_id = await accounts.authenticate(clean, token=token)
    assert (await timed_gql(client, LOG_OUT, token=token))["data"]["logOut"] is True
    digest = accounts.token_digest(token)
    await tokens.cache_user_id(clean.redis, digest=digest, user_id=user_id)  # the late fill
    assert error_codes(await timed_gql(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]
