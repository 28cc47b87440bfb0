"""``GET|HEAD /s/{code}``: statuses and headers, expiry, exact maxVisits, the cache tiers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from bench.scenarios.redirect import read_lookups
from chirp.app import create_app
from chirp.runtime import Runtime
from tests.support import eventually, gql, sign_up

SHORTEN = """
mutation Shorten($url: String!, $alias: String, $expiresAt: DateTime, $maxVisits: Int) {
  shortenUrl(url: $url, alias: $alias, expiresAt: $expiresAt, maxVisits: $maxVisits) {
    code shortUrl
  }
}
"""
VISITS = "query V($code: String!) { shortLink(code: $code) { visitCount } }"
TARGET = "https://example.com/landing?x=1"
NO_STORE = "private, max-age=0"


@pytest.fixture
async def token(client: httpx.AsyncClient) -> str:
    token, _ = await sign_up(client, "linker")
    return token


async def make_link(http: httpx.AsyncClient, token: str, **args: Any) -> str:
    body = await gql(http, SHORTEN, {"url": TARGET, **args}, token=token)
    assert "errors" not in body, body
    return body["data"]["shortenUrl"]["code"]


async def visit_count(http: httpx.AsyncClient, code: str) -> int:
    return (await gql(http, VISITS, {"code": code}))["data"]["shortLink"]["visitCount"]


@contextlib.asynccontextmanager
async def fresh_client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """Another app process, as it were: same runtime, its own in-process cache."""
    app = create_app(runtime=rt)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


async def test_a_link_redirects_with_302(client: httpx.AsyncClient, token: str) -> None:
    code = await make_link(client, token)
    response = await client.get(f"/s/{code}")
    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    assert response.headers["cache-control"] == NO_STORE
    assert response.content == b""


async def test_unknown_codes_are_404_and_say_nothing(client: httpx.AsyncClient) -> None:
    bodies = set()
    for code in ["nope", "AAAAAAAAAA", "bad.code", "x" * 33, "%C3%BC"]:
        response = await client.get(f"/s/{code}")
        assert response.status_code == 404, code
        assert response.headers["cache-control"] == NO_STORE
        assert "location" not in response.headers
        bodies.add(response.content)
    assert bodies == {b"Not found\n"}


async def test_head_answers_like_get_without_a_body_or_a_visit(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    code = await make_link(client, token, maxVisits=1)
    for _ in range(3):
        head = await client.head(f"/s/{code}")
        assert (head.status_code, head.headers["location"], head.content) == (302, TARGET, b"")
        assert head.headers["cache-control"] == NO_STORE
    assert (await client.get(f"/s/{code}")).status_code == 302  # HEAD used up nothing
    gone = await client.head(f"/s/{code}")
    assert (gone.status_code, gone.content) == (410, b"")
    assert gone.headers["content-length"] == str(len(b"Gone\n"))
    missing = await client.head("/s/unknown")
    assert (missing.status_code, missing.content) == (404, b"")
    assert await visit_count(client, code) == 1


async def test_an_expired_link_is_410(client: httpx.AsyncClient, token: str) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1)
    code = await make_link(client, token, expiresAt=expires.isoformat())
    assert (await client.get(f"/s/{code}")).status_code == 302  # cached, expiry with it

    async def gone() -> bool:
        return (await client.get(f"/s/{code}")).status_code == 410

    await eventually(gone, seconds=5)
    assert datetime.now(UTC) >= expires
    response = await client.get(f"/s/{code}")
    assert (response.status_code, response.content) == (410, b"Gone\n")
    assert "location" not in response.headers
    async with fresh_client(client_runtime(client)) as other:  # and for every process
        assert (await other.get(f"/s/{code}")).status_code == 410


def client_runtime(http: httpx.AsyncClient) -> Runtime:
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.runtime  # type: ignore[attr-defined]


async def test_max_visits_is_exact_under_concurrency(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    code = await make_link(client, token, maxVisits=10)
    responses = await asyncio.gather(*(client.get(f"/s/{code}") for _ in range(50)))
    statuses = [response.status_code for response in responses]
    assert statuses.count(302) == 10
    assert statuses.count(410) == 40
    assert await visit_count(client, code) == 10
    assert (
        await clean.db.fetchval("SELECT visit_count FROM short_links WHERE code = $1", code) == 10
    )
    assert (await client.get(f"/s/{code}")).status_code == 410


async def test_capped_visits_survive_a_redis_flush(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    code = await make_link(client, token, maxVisits=3)
    for _ in range(2):
        assert (await client.get(f"/s/{code}")).status_code == 302
    await clean.redis.flushall()
    async with fresh_client(clean) as other:
        assert (await other.get(f"/s/{code}")).status_code == 302
        assert (await other.get(f"/s/{code}")).status_code == 410
        assert await visit_count(other, code) == 3


async def test_unknown_codes_reach_postgres_once(client: httpx.AsyncClient, clean: Runtime) -> None:
    before = clean.db.round_trips
    assert (await client.get("/s/never-made")).status_code == 404
    assert clean.db.round_trips - before == 1
    for _ in range(20):
        assert (await client.get("/s/never-made")).status_code == 404
    async with fresh_client(clean) as other:  # another process: Redis has the answer
        for _ in range(20):
            assert (await other.get("/s/never-made")).status_code == 404
        assert await read_lookups(other) == {"local": 19, "shared": 0, "redis": 1, "postgres": 0}
    assert clean.db.round_trips - before == 1
    assert await read_lookups(client) == {"local": 20, "shared": 0, "redis": 0, "postgres": 1}


async def test_a_new_alias_replaces_a_cached_not_found(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    async with fresh_client(clean) as other:
        assert (await other.get("/s/fresh-alias")).status_code == 404  # cached in Redis too
        await make_link(other, token, alias="fresh-alias")
        assert (await other.get("/s/fresh-alias")).status_code == 302
    assert (await client.get("/s/fresh-alias")).status_code == 302


async def test_lookups_go_local_then_redis_then_postgres(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    code = await make_link(client, token)  # written through to Redis
    before = clean.db.round_trips
    for _ in range(5):
        assert (await client.get(f"/s/{code}")).status_code == 302
    assert clean.db.round_trips == before  # Redis once, then this process's LRU
    await clean.redis.flushall()
    async with fresh_client(clean) as other:
        assert (await other.get(f"/s/{code}")).headers["location"] == TARGET
        assert (await other.get(f"/s/{code}")).headers["location"] == TARGET
        cold = await read_lookups(other)
    assert clean.db.round_trips == before + 1  # Postgres once, for the cold process
    # Each app counts only its own lookups (its own registry).
    assert cold == {"local": 1, "shared": 0, "redis": 0, "postgres": 1}
    assert await read_lookups(client) == {"local": 4, "shared": 0, "redis": 1, "postgres": 0}
    assert (await client.get("/metrics")).headers["content-type"] == CONTENT_TYPE_LATEST


async def test_the_prefix_is_a_setting(clean: Runtime) -> None:
    settings = clean.settings.model_copy(update={"short_link_prefix": "/go"})
    rt = dataclasses.replace(clean, settings=settings)
    async with fresh_client(rt) as http:
        token, _ = await sign_up(http, "prefixer")
        body = await gql(http, SHORTEN, {"url": TARGET, "alias": "pfx"}, token=token)
        assert body["data"]["shortenUrl"]["shortUrl"] == f"{settings.base_url}/go/pfx"
        assert (await http.get("/go/pfx")).headers["location"] == TARGET
        assert (await http.get("/s/pfx")).status_code == 404
        loop = await gql(http, SHORTEN, {"url": f"{settings.base_url}/go/pfx"}, token=token)
        assert loop["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_concurrent_misses_of_one_code_share_one_lookup(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    code = await make_link(client, token)
    await clean.redis.flushall()
    before = clean.db.round_trips
    async with fresh_client(clean) as cold:
        responses = await asyncio.gather(*(cold.get(f"/s/{code}") for _ in range(20)))
        lookups = await read_lookups(cold)
    assert {response.status_code for response in responses} == {302}
    assert clean.db.round_trips - before == 1
    assert (lookups["postgres"], lookups["redis"]) == (1, 0)
    assert lookups["shared"] + lookups["local"] == 19  # the others waited or hit the LRU
