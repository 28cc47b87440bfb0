"""``delivery``: 1,000 homeFeed subscribers following one author; how long from
``postTweet`` returning until each of them has the tweet.

Both servers run as real processes (Chirp: ``chirp serve`` in embedded mode,
its workers inside; the baseline: a bare Strawberry app whose ``postTweet``
hands the tweet to its subscribers' queues in memory). One client process
holds every websocket (graphql-transport-ws) and timestamps arrivals, so the
client's costs are the same for both. Latency samples are per (round,
subscriber); rounds run one after another, each waiting for every delivery.

Latency is reported from ``postTweet`` returning (the issue's measure) and
from the request being sent. The baseline delivers before its mutation even
answers, so its "returned" latency is about zero or negative; ratios are of
the "sent" latencies, and ``overhead_ms`` is Chirp's extra time per delivery.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from bench import sockets
from bench.scenario import Measurement
from bench.stats import percentile

SUBSCRIBERS = 1_000
#: Measured tweets; each is one sample per subscriber.
ROUNDS = 20
#: Unmeasured tweets first (connections, caches, pools warm up).
WARMUP_ROUNDS = 3


async def _measure(base_url: str, _pid: int) -> dict[str, Any]:
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        author_token, tokens = await sockets.author_and_followers(
            client, followers=SUBSCRIBERS, prefix="fan"
        )
        subscribers = await sockets.open_subscribers(ws_url, tokens)
        try:
            await sockets.until_all_live(client, author_token, subscribers)
            since_returned: list[float] = []
            since_sent: list[float] = []
            for round_no in range(WARMUP_ROUNDS + ROUNDS):
                sent = time.perf_counter()
                tweet_id = await sockets.post(client, author_token, f"round {round_no}")
                returned = time.perf_counter()
                await sockets.wait_all_arrived(subscribers, tweet_id)
                if round_no >= WARMUP_ROUNDS:
                    arrivals = [s.arrivals[tweet_id] for s in subscribers]
                    since_returned += [(at - returned) * 1000 for at in arrivals]
                    since_sent += [(at - sent) * 1000 for at in arrivals]
        finally:
            await sockets.close_subscribers(subscribers)
    return {
        "deliveries": len(since_sent),
        "since_returned": _percentiles(since_returned),
        "since_sent": _percentiles(since_sent),
    }


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(samples[-1], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    chirp, baseline = sockets.run_both(args, _measure)
    return {
        "subscribers": SUBSCRIBERS,
        "rounds": ROUNDS,
        "chirp": chirp,
        "baseline": baseline,
        "ratio": {
            pct: round(chirp["since_sent"][f"{pct}_ms"] / baseline["since_sent"][f"{pct}_ms"], 2)
            for pct in ("p50", "p99")
        },
        "overhead_ms": {
            pct: round(chirp["since_sent"][f"{pct}_ms"] - baseline["since_sent"][f"{pct}_ms"], 2)
            for pct in ("p50", "p99")
        },
    }


SCENARIO = Measurement(
    name="delivery",
    summary=f"{SUBSCRIBERS} homeFeed subscribers of one author: postTweet returned -> received",
    run=run,
)
