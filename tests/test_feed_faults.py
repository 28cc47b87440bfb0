"""Home feeds and writes while Redis hangs (SIGSTOP) or dies (SIGKILL).

A private redis-server is stopped or killed while two clients keep using the
API (one posting and liking, one reading its home feed), with the real
relay and workers running. Every request must answer, without errors, within
``REQUEST_BOUND_SECONDS`` (measured); reads during the outage are served from
Postgres and the graph (they show tweets posted during the outage, which the
stopped Redis cannot have); once Redis is back the breaker closes by itself
within ``RECOVERY_BOUND_SECONDS``, and every acknowledged write (tweets,
likes, a follow) ends up where it belongs, the feed served from Redis again.
The killed server comes back from an RDB snapshot taken before the outage,
as a crashed one with persistence does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pytest

from chirp.graph.follows import FollowGraph
from chirp.ids import NodeKind, from_global_id, to_global_id
from chirp.persistence.redis import breaker_for
from chirp.runtime import Runtime
from chirp.services import feeds
from chirp.workers.runner import running_workers
from tests.private_redis import PrivateRedis, on_redis, private_redis
from tests.support import create_users, eventually, gql, tokens_for
from tests.test_feed_model import expected_ids, feed_ids, follow, ids_of
from tests.test_feed_model import post as post_and_deliver
from tests.test_timeline_currency import FOLLOW, HOME, api, home_ids, post, stored

#: Each request, during the outage too. The most Redis can cost a request is
#: one bounded wait (0.5 s: the token cache's timeout, or the feed's silence
#: bound; while the breaker is open neither waits); the rest is the request's
#: own work, given a second and a half on a loaded 2-core box. Without the
#: breaker a hung Redis cost every request the 5 s socket timeout.
REQUEST_BOUND_SECONDS: Final = 2.5
#: How long the outage lasts: past the breaker's open interval (2 s), so
#: probes meet the dead Redis too.
OUTAGE_SECONDS: Final = 4.0
#: Requests of each client during the outage, at least.
MIN_OUTAGE_REQUESTS: Final = 5
#: From Redis being back to the breaker closed (normal service): one open
#: interval (2 s) and one probe, with slack for a loaded box.
RECOVERY_BOUND_SECONDS: Final = 10.0
#: From Redis being back to every acknowledged tweet in the feed: the relay
#: retries each second, the consumers back off to 5 s, and a command caught
#: by the hang waits out the 5 s socket timeout.
DELIVERY_BOUND_SECONDS: Final = 30.0
#: Pause between one client's requests (pacing, not synchronisation).
PACE_SECONDS: Final = 0.02

POST_ID = "mutation Post($text: String!) { postTweet(text: $text) { id } }"
LIKE = "mutation Like($id: ID!) { likeTweet(id: $id) { likeCount } }"


@dataclass
class Traffic:
    """Two clients' requests, each timed, and what the API acknowledged."""

    http: httpx.AsyncClient
    reader_token: str
    author_token: str
    phase: str = "before"
    #: (phase, operation, seconds) of every request.
    timings: list[tuple[str, str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    posted: list[tuple[str, int]] = field(default_factory=list)
    liked: list[int] = field(default_factory=list)
    #: Home-feed pages read during the outage that showed a tweet posted during it.
    fresh_outage_reads: int = 0

    def count(self, phase: str, operation: str) -> int:
        return sum(1 for p, op, _ in self.timings if p == phase and op == operation)

    async def timed(self, operation: str, request: Awaitable[dict[str, Any]]) -> Any:
        phase, loop = self.phase, asyncio.get_running_loop()
        started = loop.time()
        body = await request
        self.timings.append((phase, operation, loop.time() - started))
        if "errors" in body:
            self.failures.append(f"{phase} {operation}: {body['errors']}")
            return None
        return body["data"]

    async def write(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            phase = self.phase
            data = await self.timed(
                "post", gql(self.http, POST_ID, {"text": f"{phase} {n}"}, token=self.author_token)
            )
            if data is not None:
                tweet = from_global_id(data["postTweet"]["id"])[1]
                self.posted.append((phase, tweet))
                like = {"id": data["postTweet"]["id"]}
                if await self.timed("like", gql(self.http, LIKE, like, token=self.reader_token)):
                    self.liked.append(tweet)
            n += 1
            await asyncio.sleep(PACE_SECONDS)

    async def read(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            phase = self.phase
            data = await self.timed(
                "read", gql(self.http, HOME, {"first": 20}, token=self.reader_token)
            )
            if data is not None and phase == "outage":
                shown = {from_global_id(e["node"]["id"])[1] for e in data["homeFeed"]["edges"]}
                if shown & {tweet for p, tweet in self.posted if p == "outage"}:
                    self.fresh_outage_reads += 1
            await asyncio.sleep(PACE_SECONDS)


@contextlib.asynccontextmanager
async def running(*jobs: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(job(stop)) for job in jobs]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


@pytest.mark.parametrize("fault", ["hang", "kill"])
async def test_feeds_and_writes_live_through_a_redis_outage(clean: Runtime, fault: str) -> None:
    async with private_redis() as server, on_redis(clean, server) as rt, api(rt) as http:
        author, reader, late = await create_users(rt, ["author", "reader", "late"])
        author_token, reader_token, late_token = await tokens_for(rt, author.id, reader.id, late.id)
        await _follow(http, reader_token, author.id)
        late_tweets = [await post(http, late_token, f"late {i}") for i in range(3)]
        assert await home_ids(http, reader_token) == []  # live timeline
        traffic = Traffic(http, reader_token=reader_token, author_token=author_token)
        async with running_workers(rt):
            async with running(traffic.write, traffic.read):
                await eventually(lambda: _done(traffic, "before", 3))
                server.snapshot()  # what the killed server comes back with
                traffic.phase = "outage"
                _break(server, fault)
                try:
                    outage = asyncio.get_running_loop().time()
                    # The reader follows someone while Redis is away: a write
                    # whose event waits in the outbox.
                    await _follow(http, reader_token, late.id)
                    await eventually(lambda: _outage_done(traffic, outage), 60)
                finally:
                    _repair(server, fault)
                    traffic.phase = "after"
                closed = breaker_for(rt.redis)
                await eventually(lambda: _holds(closed.closed), RECOVERY_BOUND_SECONDS)
                await eventually(lambda: _done(traffic, "after", 3))
            assert traffic.failures == []
            slowest = max(seconds for _, _, seconds in traffic.timings)
            assert slowest <= REQUEST_BOUND_SECONDS, _slowest(traffic)
            assert traffic.fresh_outage_reads > 0  # outage reads came from Postgres
            assert traffic.count("outage", "post") >= MIN_OUTAGE_REQUESTS

            # Nothing acknowledged was lost: the tweets, the follow, the likes.
            following = await FollowGraph(rt.graph).following_ids(user_id=reader.id)
            assert set(following) == {author.id, late.id}
            liked = await rt.db.fetch("SELECT tweet_id FROM likes WHERE user_id = $1", reader.id)
            assert sorted(row["tweet_id"] for row in liked) == sorted(traffic.liked)
            posted = [tweet for _, tweet in traffic.posted]
            expected = sorted(posted + late_tweets, reverse=True)[: feeds.MAX_ITEMS]

            async def delivered() -> bool:  # into Redis again, by the workers
                return await stored(server, reader.id) == expected

            await eventually(delivered, DELIVERY_BOUND_SECONDS)
            assert await home_ids(http, reader_token) == expected
            assert breaker_for(rt.redis).closed


def _break(server: PrivateRedis, fault: str) -> None:
    if fault == "hang":
        server.hang()
    else:
        server.kill()


def _repair(server: PrivateRedis, fault: str) -> None:
    if fault == "hang":
        server.resume()
    else:
        server.restore()


async def _follow(http: httpx.AsyncClient, token: str, user_id: int) -> None:
    body = await gql(http, FOLLOW, {"id": to_global_id(NodeKind.USER, user_id)}, token=token)
    assert "errors" not in body, body


async def _done(traffic: Traffic, phase: str, requests: int) -> bool:
    return traffic.count(phase, "read") >= requests and traffic.count(phase, "post") >= requests


async def _outage_done(traffic: Traffic, started: float) -> bool:
    lasted = asyncio.get_running_loop().time() - started >= OUTAGE_SECONDS
    return lasted and await _done(traffic, "outage", MIN_OUTAGE_REQUESTS)


async def _holds(value: bool) -> bool:
    return value


def _slowest(traffic: Traffic) -> list[tuple[str, str, float]]:
    return sorted(traffic.timings, key=lambda t: -t[2])[:5]


async def test_degraded_pages_keep_their_cursors_across_the_switch(clean: Runtime) -> None:
    """Paged with Redis killed, then with it back (empty), the feed is the
    brute-force answer, and a cursor from either path works on the other."""
    async with private_redis() as server, on_redis(clean, server) as rt:
        reader, *authors = await ids_of(rt, "reader", "a1", "a2", "a3")
        for author in authors:
            await follow(rt, reader, author)
        for i in range(25):
            await post_and_deliver(rt, authors[i % 3], f"t{i}")
        await post_and_deliver(rt, reader, "mine")
        expected = await expected_ids(rt, reader)
        assert await feed_ids(rt, reader, page_size=4) == expected  # from Redis
        server.kill()
        try:
            assert await feed_ids(rt, reader, page_size=4) == expected  # from Postgres
            half = await feeds.home_feed(rt, user_id=reader, first=13, after=None)
            assert not breaker_for(rt.redis).closed
        finally:
            server.start()  # empty: nothing persisted
        await eventually(lambda: _redis_used_again(rt, reader))
        rest = await feeds.home_feed(rt, user_id=reader, first=100, after=half.page_info.end_cursor)
        ids = [e.node.id for e in half.edges] + [e.node.id for e in rest.edges]
        assert ids == expected and not rest.page_info.has_next_page


async def _redis_used_again(rt: Runtime, reader: int) -> bool:
    await feeds.home_feed(rt, user_id=reader, first=1, after=None)
    return breaker_for(rt.redis).closed
