"""``trends``: hashtag uses one trends worker absorbs, and the ``trends`` query.

(a) In-process: ``EVENTS`` tweet events with ``TAGS_PER_TWEET`` hashtags each
(``TAGS`` tags, Zipf-like; ``AUTHORS`` accounts) go straight onto the event
stream, and one trends worker (consumer group ``trends``) handles them; the
clock runs from its first read until the group is drained. Every use is
applied to both windows. The baseline is the floor for the same Redis
writes: pipelined ZINCRBYs of the same (window, tag) members, one pipeline
per ``BATCH`` events as the worker reads them.

(b) HTTP: ``{ trends(first: 10) { hashtag score tweetCount } }`` against
``chirp serve`` (after ``SETUP_TWEETS`` tagged tweets through the API, counted
by its inline worker) and against a bare Strawberry/Starlette app serving
the same list from memory, with the harness's load generator.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.cli import run_side
from bench.graphql import execute, graphql_check, graphql_request, sign_up_or_log_in
from bench.scenario import Measurement, Request, Scenario
from bench.scenarios._world import bench_runtime
from bench.server import chirp_command, free_port, uvicorn_command
from bench.stats import ratio
from chirp.persistence import outbox, streams
from chirp.persistence.outbox import OutboxRow
from chirp.services import trends
from chirp.services.trends import TrendWindow
from chirp.workers import trends as trend_worker
from chirp.workers.consumer import BATCH, StreamConsumer

EVENTS = 20_000
TAGS_PER_TWEET = 2
TAGS = 500
AUTHORS = 5_000
#: Events appended to the stream per pipeline while preparing (not measured).
PUBLISH_BATCH = 1_000

QUERY = "{ trends(first: 10) { hashtag score tweetCount } }"
POST = "mutation Post($text: String!) { postTweet(text: $text) { id } }"
#: Tweets posted through the API before measuring, by SETUP_AUTHORS accounts.
SETUP_TWEETS = 200
SETUP_AUTHORS = 10
#: How long setup waits for Chirp's worker to list ten trends.
SETUP_WAIT_S = 60.0


def _events(rt: Any, rng: random.Random) -> list[OutboxRow]:
    weights = [1 / (rank + 1) for rank in range(TAGS)]
    rows = []
    for n in range(EVENTS):
        tags = sorted(set(rng.choices(range(TAGS), weights=weights, k=TAGS_PER_TWEET)))
        payload = {
            "tweet_id": rt.ids.next_id(),
            "author_id": rng.randrange(AUTHORS) + 1,
            "hashtags": [f"tag{t}" for t in tags],
        }
        rows.append(OutboxRow(n + 1, outbox.TWEET_ADDED, payload))
    return rows


async def _baseline(rt: Any, rows: list[OutboxRow]) -> float:
    """Seconds for the same ZINCRBYs, one pipeline per consumer batch."""
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        async with rt.redis.pipeline(transaction=False) as pipe:
            for row in rows[start : start + BATCH]:
                for window in TrendWindow:
                    for tag in row.payload["hashtags"]:
                        pipe.zincrby(f"bench:baseline:{window.value}", 1.0, tag)
            await pipe.execute()
    return time.perf_counter() - started


async def _absorb(args: Any) -> dict[str, Any]:
    async with bench_runtime(args.data_dir) as rt:
        rows = _events(rt, random.Random(7))
        uses = sum(len(row.payload["hashtags"]) for row in rows)
        await trends.top(rt, window=TrendWindow.HOUR, first=1)  # build both windows
        await trends.top(rt, window=TrendWindow.DAY, first=1)
        worker = StreamConsumer(rt, group=trend_worker.GROUP, handler=trend_worker.handle)
        await streams.ensure_group(rt.redis, group=worker.group)
        for start in range(0, len(rows), PUBLISH_BATCH):
            await streams.publish(rt.redis, rows[start : start + PUBLISH_BATCH])
        started = time.perf_counter()
        while not await streams.is_drained(rt.redis, group=worker.group):
            await worker.step(block_ms=1)
        handling = time.perf_counter() - started
        listed = await trends.top(rt, window=TrendWindow.HOUR, first=10)
        assert len(listed) == 10, "the worker counted nothing"
        baseline = await _baseline(rt, rows)
    chirp_rate, baseline_rate = uses / handling, uses / baseline
    return {
        "events": EVENTS,
        "hashtag_uses": uses,
        "windows": len(TrendWindow),
        "chirp": {
            "hashtag_uses_per_s_one_worker": round(chirp_rate),
            "events_per_s_one_worker": round(EVENTS / handling),
            "seconds": round(handling, 3),
        },
        "baseline": {
            "what": "pipelined ZINCRBY of the same (window, tag) members, one pipeline "
            "per consumer batch",
            "hashtag_uses_per_s": round(baseline_rate),
            "seconds": round(baseline, 3),
        },
        "ratio": {"uses_per_s": round(chirp_rate / baseline_rate, 3)},
    }


# ---------------------------------------------------------------- HTTP side


@dataclass(frozen=True)
class State:
    pass


async def setup(client: httpx.AsyncClient, base_url: str) -> State:
    """Post tagged tweets through the API; wait until ten trends are listed."""
    rng = random.Random(11)
    tokens = [
        (await sign_up_or_log_in(client, handle=f"trender{n}"))["token"]
        for n in range(SETUP_AUTHORS)
    ]
    for n in range(SETUP_TWEETS):
        # Twelve distinct tags first, then a long tail with a few hot ones.
        tag = n if n < 12 else min(int(rng.paretovariate(1.0)), 30)
        await execute(client, POST, {"text": f"tweet {n} #trend{tag}"}, token=rng.choice(tokens))
    deadline = time.monotonic() + SETUP_WAIT_S
    while len((await execute(client, QUERY))["trends"]) < 10:
        if time.monotonic() > deadline:
            raise RuntimeError("trends never listed ten hashtags")
        await asyncio.sleep(0.1)
    return State()


def requests(state: State) -> list[Request]:
    return [graphql_request(QUERY)]


HTTP = Scenario(
    name="trends-http",
    summary="{ trends(first: 10) { hashtag score tweetCount } }",
    baseline_app="bench.baseline.trends:app",
    setup=setup,
    requests=requests,
    check=graphql_check("trends"),
)


def _http(args: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chirp-bench-", ignore_cleanup_errors=True) as tmp:
        chirp = run_side(chirp_command(Path(tmp), free_port()), HTTP, args)
    base = run_side(uvicorn_command("baseline", HTTP.baseline_app, free_port()), HTTP, args)
    return {
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "chirp": chirp,
        "baseline": {**base, "app": HTTP.baseline_app},
        "ratio": ratio(chirp, base),
    }


def _run(args: Any) -> dict[str, Any]:
    return {"worker": asyncio.run(_absorb(args)), "query": _http(args)}


MEASUREMENT = Measurement(
    name="trends",
    summary="hashtag uses/s one trends worker absorbs; trends(first: 10) req/s vs baseline",
    run=_run,
)
