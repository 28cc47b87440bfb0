"""Feeds through the real event pipeline: services write, the outbox relay and
the feed worker (a consumer group on the stream) deliver, feeds converge."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest

from chirp.graph.follows import FollowGraph
from chirp.persistence import streams, timelines
from chirp.runtime import Runtime
from chirp.services import feeds, follows, tweets
from chirp.workers import feeds as feed_worker
from chirp.workers.consumer import StreamConsumer
from chirp.workers.relay import Relay
from tests.support import create_users, eventually
from tests.test_feed_model import expected_ids, feed_ids, peek

USERS = 12
#: Two users start with this many followers: pushed below it, merged at read above.
THRESHOLD = 4
STEPS = 120


async def drain(rt: Runtime, consumer: StreamConsumer) -> None:
    """Relay every committed event and let the worker handle all of them."""

    async def drained() -> bool:
        await Relay(rt).relay_once()
        await consumer.step(block_ms=1)
        return await streams.is_drained(rt.redis, group=consumer.group)

    await eventually(drained)


@pytest.mark.parametrize(("seed", "flush_at"), [(11, None), (12, STEPS // 2), (13, None)])
async def test_feeds_match_brute_force_after_the_workers_drain(
    clean: Runtime, seed: int, flush_at: int | None
) -> None:
    rng = random.Random(seed)
    rt = dataclasses.replace(
        clean, settings=clean.settings.model_copy(update={"celebrity_followers": THRESHOLD})
    )
    consumer = StreamConsumer(rt, group=feed_worker.GROUP, handler=feed_worker.handle)
    users = [u.id for u in await create_users(rt, [f"user{i}" for i in range(USERS)])]
    for star in users[:2]:
        for fan in rng.sample(users[2:], THRESHOLD):
            await follows.follow(rt, follower_id=fan, followee_id=star)
    posted: list[int] = []
    for step in range(STEPS):
        if step == flush_at:
            await rt.redis.flushall()  # timelines, stream and group all go
        user = rng.choice(users)
        op = rng.choices(
            ["post", "retweet", "undo", "delete", "follow", "unfollow", "read", "drain"],
            weights=[30, 10, 4, 6, 12, 8, 15, 15],
        )[0]
        if op == "post":
            posted.append((await tweets.post_tweet(rt, author_id=user, text=f"s{step}")).id)
        elif op in ("retweet", "undo") and posted:
            action = tweets.retweet if op == "retweet" else tweets.undo_retweet
            target = rng.choice(posted)
            if await rt.db.fetchval("SELECT 1 FROM tweets WHERE id = $1", target):
                await action(rt, user_id=user, tweet_id=target)
        elif op == "delete" and posted:
            target = posted.pop(rng.randrange(len(posted)))
            author = await rt.db.fetchval("SELECT author_id FROM tweets WHERE id = $1", target)
            if author is not None:
                await tweets.delete_tweet(rt, tweet_id=target, actor_id=author)
        elif op in ("follow", "unfollow"):
            other = rng.choice([u for u in users if u != user])
            change = follows.follow if op == "follow" else follows.unfollow
            await change(rt, follower_id=user, followee_id=other)
        elif op == "read":
            await feeds.home_feed(rt, user_id=user, first=5, after=None)
        elif op == "drain":
            await drain(rt, consumer)
    await drain(rt, consumer)
    for user in users:
        assert await feed_ids(rt, user) == await expected_ids(rt, user), f"user {user}"


async def test_a_worker_killed_mid_fan_out_is_finished_by_another(
    clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages make the fan-out many pipelined batches, so it can die between them.
    monkeypatch.setattr(feeds, "FANOUT_PAGE_SIZE", 25)
    author, *fans = [
        u.id for u in await create_users(clean, ["author"] + [f"fan{i}" for i in range(500)])
    ]
    await FollowGraph(clean.graph).bulk_follow(edges=[(fan, author, 1) for fan in fans])
    await asyncio.gather(*(feeds.home_feed(clean, user_id=f, first=1, after=None) for f in fans))
    await clean.db.execute("DELETE FROM outbox")
    tweet = await tweets.post_tweet(clean, author_id=author, text="to every fan")
    await Relay(clean).relay_once()

    # The worker hangs after a few pages (as if its process froze), then is
    # killed: deterministic, where racing a cancel against the pages was not.
    real_push, pushes, hung = timelines.push, 0, asyncio.Event()

    async def push_then_hang(redis: Any, **kwargs: Any) -> int:
        nonlocal pushes
        pushes += 1
        if pushes > 5:  # the author's own timeline and four pages of fans went out
            hung.set()
            await asyncio.Event().wait()
        return await real_push(redis, **kwargs)

    monkeypatch.setattr(timelines, "push", push_then_hang)
    doomed = StreamConsumer(clean, group=feed_worker.GROUP, handler=feed_worker.handle, name="a")
    dying = asyncio.create_task(doomed.step(block_ms=1))
    await asyncio.wait_for(hung.wait(), 30)
    dying.cancel()  # the worker dies mid fan-out, its entry unacked
    with pytest.raises(asyncio.CancelledError):
        await dying
    monkeypatch.setattr(timelines, "push", real_push)
    reached = [fan for fan in fans if tweet.id in (await peek(clean, fan) or [])]
    assert 0 < len(reached) < len(fans), "the kill did not land mid fan-out"

    survivor = StreamConsumer(
        clean, group=feed_worker.GROUP, handler=feed_worker.handle, name="b", claim_idle_ms=1
    )

    async def finished() -> bool:
        await survivor.step(block_ms=1)
        return await streams.is_drained(clean.redis, group=feed_worker.GROUP)

    await eventually(finished)
    for fan in fans:
        timeline = await peek(clean, fan)
        assert timeline is not None and timeline.count(tweet.id) == 1, fan
