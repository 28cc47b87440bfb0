"""Timelines know whether they are current: a Redis restored from an old RDB
snapshot must not serve the timelines in it as they are.

A real redis-server of the test's own is snapshotted (``SAVE``), tweets are
posted through the API and fanned out by the real workers, then the server is
killed and started again on the old ``dump.rdb``. Every acknowledged tweet
must be in the follower's ``homeFeed``, served from a rebuilt timeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from chirp.app import create_app
from chirp.ids import NodeKind, from_global_id, to_global_id
from chirp.persistence import currency, streams, timelines
from chirp.persistence.outbox import OutboxRow
from chirp.persistence.redis import breaker_for, connect_redis
from chirp.runtime import Runtime
from chirp.services import feeds
from chirp.workers.runner import running_workers
from tests.private_redis import PrivateRedis, on_redis, private_redis
from tests.support import create_users, eventually, gql, tokens_for
from tests.test_feed_model import peek

#: Posted and fanned out before the snapshot: in the restored timelines.
BEFORE_SNAPSHOT = 10
#: Posted and fanned out after it: what the restore loses (as many as the report).
AFTER_SNAPSHOT = 130

#: Timeline TTL for raw reads here (reads refresh it).
TTL = 60_000
POST = "mutation Post($text: String!) { postTweet(text: $text) { id } }"
FOLLOW = "mutation Follow($id: ID!) { follow(userId: $id) { handle } }"
HOME = """
query Home($first: Int, $after: String) { homeFeed(first: $first, after: $after) {
  edges { node { id } } pageInfo { hasNextPage endCursor }
} }
"""


@contextlib.asynccontextmanager
async def api(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``rt`` behind httpx's ASGI transport, lifespan included."""
    app = create_app(runtime=rt)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


async def post(http: httpx.AsyncClient, token: str, text: str) -> int:
    """Post through the API; the id of the acknowledged tweet."""
    body = await gql(http, POST, {"text": text}, token=token)
    assert "errors" not in body, body
    return from_global_id(body["data"]["postTweet"]["id"])[1]


async def home_ids(http: httpx.AsyncClient, token: str, *, page_size: int = 100) -> list[int]:
    """The whole home feed through the API, paged through."""
    ids: list[int] = []
    after = None
    while True:
        body = await gql(http, HOME, {"first": page_size, "after": after}, token=token)
        assert "errors" not in body, body
        feed = body["data"]["homeFeed"]
        ids += [from_global_id(edge["node"]["id"])[1] for edge in feed["edges"]]
        if not feed["pageInfo"]["hasNextPage"]:
            return ids
        after = feed["pageInfo"]["endCursor"]


async def world(rt: Runtime, http: httpx.AsyncClient) -> tuple[int, str, str]:
    """An author and a reader who follows them and has a live timeline:
    ``(reader id, reader token, author token)``."""
    author, reader = await create_users(rt, ["author", "reader"])
    author_token, reader_token = await tokens_for(rt, author.id, reader.id)
    followed = await gql(
        http, FOLLOW, {"id": to_global_id(NodeKind.USER, author.id)}, token=reader_token
    )
    assert "errors" not in followed, followed
    assert await home_ids(http, reader_token) == []  # the timeline is live (and empty)
    return reader.id, reader_token, author_token


async def post_and_fan_out(
    rt: Runtime, http: httpx.AsyncClient, token: str, reader: int, texts: list[str]
) -> list[int]:
    """Post each through the API, then wait until the workers pushed them all
    into the reader's timeline (read raw, not through homeFeed)."""
    posted = [await post(http, token, text) for text in texts]

    async def fanned_out() -> bool:
        return set(posted) <= set(await peek(rt, reader) or [])

    await eventually(fanned_out)
    return posted


@pytest.mark.parametrize("process", ["same", "restarted"])
async def test_a_redis_restored_from_an_old_snapshot_rebuilds_its_timelines(
    clean: Runtime, process: str
) -> None:
    """``same``: the API process lives through the restore (it runs the relay,
    so it knows the mark Redis had reached). ``restarted``: a new process
    (new client) starts on the restored Redis and reads the mark from
    Postgres before its first read."""
    async with private_redis() as server, on_redis(clean, server) as rt, api(rt) as http:
        reader, reader_token, author_token = await world(rt, http)
        async with running_workers(rt):
            kept = await post_and_fan_out(
                rt, http, author_token, reader, [f"kept {i}" for i in range(BEFORE_SNAPSHOT)]
            )
            server.snapshot()
            lost = await post_and_fan_out(
                rt, http, author_token, reader, [f"lost {i}" for i in range(AFTER_SNAPSHOT)]
            )
            acknowledged = sorted(kept + lost, reverse=True)
            assert await home_ids(http, reader_token) == acknowledged
            server.restore()
            assert await stored(server, reader) == sorted(kept, reverse=True)  # the old dataset
            if process == "same":
                await _served_normally(rt, http, reader_token, acknowledged)
        if process == "restarted":
            async with on_redis(clean, server) as fresh, api(fresh) as http2:
                await _served_normally(fresh, http2, reader_token, acknowledged)
        assert await stored(server, reader) == acknowledged  # rebuilt


async def stored(server: PrivateRedis, user_id: int) -> list[int]:
    """The ids the user's timeline holds, newest first, read by a client of
    its own (the runtime's pooled connections may not have noticed the
    restart yet)."""
    client = connect_redis(server.url)
    try:
        members = await client.zrange(timelines.timeline_key(user_id), 0, -1)
    finally:
        await client.aclose()
    return sorted((int(m.split(":")[0]) for m in members if m[0].isdigit()), reverse=True)


async def _served_normally(
    rt: Runtime, http: httpx.AsyncClient, token: str, acknowledged: list[int]
) -> None:
    """Every read has every acknowledged tweet, and once the process is past
    the restart (its breaker closed) the feed comes from a rebuilt timeline."""
    assert await home_ids(http, token) == acknowledged

    async def from_redis() -> bool:
        assert await home_ids(http, token) == acknowledged
        return breaker_for(rt.redis).closed

    await eventually(from_redis)


async def test_the_relay_renews_the_epoch_of_a_redis_behind_postgres(
    clean: Runtime,
) -> None:
    """A reader process that saw nothing (no restart, no failure, an old
    watermark) still rebuilds once any relay appends to the restored Redis."""
    redis = clean.redis
    [reader] = await create_users(clean, ["reader"])
    await feeds.home_feed(clean, user_id=reader.id, first=5, after=None)  # live
    before = await timelines.read(redis, user_id=reader.id, before_id=None, limit=5, ttl_ms=TTL)
    assert before.state == "live"
    # A batch claimed under a Postgres mark above this Redis's: it lost events.
    durable = before.relayed + 1_000
    await streams.publish(redis, [OutboxRow(durable + 1, "test", {}, relayed_through=durable)])
    after = await timelines.read(redis, user_id=reader.id, before_id=None, limit=5, ttl_ms=TTL)
    assert after.state == "stale" and int(after.epoch) == int(before.epoch) + 1
    assert after.relayed == durable + 1
    # Appends under a mark Redis has reached change nothing.
    await streams.publish(redis, [OutboxRow(durable + 2, "test", {}, relayed_through=durable)])
    again = await timelines.read(redis, user_id=reader.id, before_id=None, limit=5, ttl_ms=TTL)
    assert again.epoch == after.epoch and again.relayed == durable + 2
    await feeds.home_feed(clean, user_id=reader.id, first=5, after=None)  # rebuilt
    rebuilt = await timelines.read(redis, user_id=reader.id, before_id=None, limit=5, ttl_ms=TTL)
    assert rebuilt.state == "live" and rebuilt.epoch == after.epoch


async def test_a_reader_renews_when_redis_goes_back_below_its_watermark(clean: Runtime) -> None:
    [reader] = await create_users(clean, ["reader"])
    await feeds.home_feed(clean, user_id=reader.id, first=5, after=None)
    mark = currency.watermark(clean.redis).through
    await clean.redis.hset(currency.CURRENCY_KEY, "relayed", mark + 10)
    await feeds.home_feed(clean, user_id=reader.id, first=5, after=None)
    assert currency.watermark(clean.redis).through == mark + 10
    epoch = await clean.redis.hget(currency.CURRENCY_KEY, "epoch")
    await clean.redis.hset(currency.CURRENCY_KEY, "relayed", mark)  # as a restore does
    await feeds.home_feed(clean, user_id=reader.id, first=5, after=None)
    assert int(await clean.redis.hget(currency.CURRENCY_KEY, "epoch") or 0) == int(epoch or 0) + 1
    read = await timelines.read(clean.redis, user_id=reader.id, before_id=None, limit=5, ttl_ms=TTL)
    assert read.state == "live" and read.relayed == mark + 10  # rebuilt in the new epoch
