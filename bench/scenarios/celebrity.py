"""``celebrity``: postTweet latency for an author with 100,000 followers vs one with 10.

With hybrid fan-out, posting never waits for fan-out (the event is committed
with the tweet and handled by workers), and a celebrity's tweets are not
pushed at all, so the two latencies should be about equal. In-process, with
the workers running alongside as in ``chirp serve``; the small author's
followers have live timelines, so their pushes compete for the same CPU.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.scenario import Measurement
from bench.scenarios._world import bench_runtime, follow, latency_summary, make_users
from chirp.services import feeds, tweets
from chirp.workers.runner import running_workers

BIG_AUDIENCE = 100_000
SMALL_AUDIENCE = 10
#: Posts per author, interleaved so both see the same conditions.
POSTS = 300


async def _measure(args: Any) -> dict[str, Any]:
    async with bench_runtime(args.data_dir) as rt:
        big, small = await make_users(rt, 2, prefix="author")
        fans = await make_users(rt, BIG_AUDIENCE, prefix="fan")
        await follow(rt, followers=fans, followee=big)
        await follow(rt, followers=fans[:SMALL_AUDIENCE], followee=small)
        for fan in fans[:SMALL_AUDIENCE]:
            await feeds.home_feed(rt, user_id=fan, first=1, after=None)  # live timelines
        latencies: dict[int, list[float]] = {big: [], small: []}
        async with running_workers(rt):
            for n in range(POSTS):
                for author in (big, small):
                    started = time.perf_counter()
                    await tweets.post_tweet(rt, author_id=author, text=f"post {n}")
                    latencies[author].append((time.perf_counter() - started) * 1000)
    big_summary, small_summary = latency_summary(latencies[big]), latency_summary(latencies[small])
    return {
        "chirp": {"what": "postTweet by the big author", "followers": BIG_AUDIENCE, **big_summary},
        "baseline": {
            "what": "postTweet by the small author, same run",
            "followers": SMALL_AUDIENCE,
            **small_summary,
        },
        "ratio": {
            "p50": round(big_summary["p50_ms"] / small_summary["p50_ms"], 3),
            "p99": round(big_summary["p99_ms"] / small_summary["p99_ms"], 3),
        },
    }


MEASUREMENT = Measurement(
    name="celebrity",
    summary="postTweet p50/p99 for an author with 100,000 followers vs one with 10",
    run=lambda args: asyncio.run(_measure(args)),
)
