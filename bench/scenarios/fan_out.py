"""``fan-out``: from postTweet to the tweet being in all 10,000 followers' timelines.

In-process: an author with ``FOLLOWERS`` followers, every follower's timeline
live (built by reading it once), then ``ROUNDS`` times: post a tweet, relay its
event, and let one feed worker handle it; the clock stops when the worker has
written every timeline. The baseline is the floor for the same work: the same
number of pipelined ZADDs (to as many fresh sorted sets) straight to Redis, in
batches of the worker's page size.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.scenario import Measurement
from bench.scenarios._world import bench_runtime, follow, latency_summary, make_users
from chirp.graph.follows import MAX_ID_PAGE_SIZE
from chirp.services import feeds, tweets
from chirp.workers import feeds as feed_worker
from chirp.workers.consumer import StreamConsumer
from chirp.workers.relay import Relay

#: The issue's audience: 10,000 followers, just under the default threshold's
#: reach, so the threshold is raised above it to make the author pushed.
FOLLOWERS = 10_000
ROUNDS = 5
#: Followers' timelines built at once while making them live.
MAKE_LIVE_CONCURRENCY = 32
#: Timelines checked after each round (all of them would dominate the run).
VERIFY_SAMPLE = 200


async def _make_live(rt: Any, user_ids: list[int]) -> None:
    semaphore = asyncio.Semaphore(MAKE_LIVE_CONCURRENCY)

    async def read(user_id: int) -> None:
        async with semaphore:
            await feeds.home_feed(rt, user_id=user_id, first=1, after=None)

    await asyncio.gather(*(read(u) for u in user_ids))


async def _baseline(rt: Any, rounds: int) -> list[float]:
    """Seconds per round for FOLLOWERS pipelined ZADDs in pages of the same size."""
    seconds = []
    for r in range(rounds):
        started = time.perf_counter()
        for start in range(0, FOLLOWERS, MAX_ID_PAGE_SIZE):
            async with rt.redis.pipeline(transaction=False) as pipe:
                for n in range(start, min(start + MAX_ID_PAGE_SIZE, FOLLOWERS)):
                    pipe.zadd(f"bench:baseline:{n}", {str(r + 1): r + 1})
                await pipe.execute()
        seconds.append(time.perf_counter() - started)
    return seconds


async def _measure(args: Any) -> dict[str, Any]:
    async with bench_runtime(args.data_dir, celebrity_followers=FOLLOWERS + 1) as rt:
        author, *followers = await make_users(rt, FOLLOWERS + 1, prefix="fan")
        await follow(rt, followers=followers, followee=author)
        await _make_live(rt, followers)
        relay = Relay(rt)
        worker = StreamConsumer(rt, group=feed_worker.GROUP, handler=feed_worker.handle)
        await worker.step(block_ms=1)  # creates the group, drains setup events
        to_all, handling = [], []
        for n in range(ROUNDS):
            started = time.perf_counter()
            tweet = await tweets.post_tweet(rt, author_id=author, text=f"fan-out round {n}")
            await relay.relay_once()
            handled_from = time.perf_counter()
            await worker.step(block_ms=1)
            done = time.perf_counter()
            to_all.append((done - started) * 1000)
            handling.append(done - handled_from)
            for follower in random.sample(followers, VERIFY_SAMPLE):
                page = await feeds.home_feed(rt, user_id=follower, first=1, after=None)
                assert page.edges and page.edges[0].node.id == tweet.id, "tweet missing"
        baseline = await _baseline(rt, ROUNDS)
    chirp_rate = FOLLOWERS * ROUNDS / sum(handling)
    baseline_rate = FOLLOWERS * ROUNDS / sum(baseline)
    return {
        "followers": FOLLOWERS,
        "rounds": ROUNDS,
        "chirp": {
            "post_to_all_timelines": latency_summary(to_all),
            "timeline_inserts_per_s_one_worker": round(chirp_rate),
        },
        "baseline": {
            "what": "pipelined ZADD to as many sorted sets, same page size",
            "inserts_per_s": round(baseline_rate),
        },
        "ratio": {"inserts_per_s": round(chirp_rate / baseline_rate, 3)},
    }


MEASUREMENT = Measurement(
    name="fan-out",
    summary="postTweet until in all 10,000 followers' timelines; inserts/s of one worker",
    run=lambda args: asyncio.run(_measure(args)),
)
