"""Websocket benchmarks' shared parts: users through the public API, many
graphql-transport-ws subscribers in one client process, and the server's RSS.

The same code drives Chirp and the baseline, so both sides pay the same
client costs and differ only in the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect

from bench.graphql import SIGN_UP, execute
from bench.loadgen import run_async
from bench.server import chirp_command, data_dir, free_port, running, uvicorn_command

#: The bare app both websocket scenarios compare against.
BASELINE_APP = "bench.baseline.live:app"
#: Sign-ups at once during setup: each costs an argon2 hash on Chirp's side,
#: so more than the cores only queues them.
SIGN_UP_CONCURRENCY = 4
#: Connections opened at once: a burst of thousands of handshakes overflows
#: the listen backlog for no benefit.
CONNECT_CONCURRENCY = 50
#: Longest wait for one expected message before a run gives up.
RECEIVE_TIMEOUT_S = 30.0
#: How long a readiness probe tweet is waited for before another is posted.
LIVE_PROBE_S = 2.0
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { id } }"
POST = "mutation($text: String!) { postTweet(text: $text) { id } }"
HOME_FEED = "subscription { homeFeed { id text author { handle } } }"


async def sign_up_many(client: httpx.AsyncClient, handles: list[str]) -> list[dict[str, Any]]:
    """``{token, user}`` for each handle, in order."""
    gate = asyncio.Semaphore(SIGN_UP_CONCURRENCY)

    async def one(handle: str) -> dict[str, Any]:
        async with gate:
            variables = {"handle": handle, "password": "benchpass123"}
            return (await execute(client, SIGN_UP, variables))["signUp"]

    return list(await asyncio.gather(*(one(h) for h in handles)))


async def author_and_followers(
    client: httpx.AsyncClient, *, followers: int, prefix: str
) -> tuple[str, list[str]]:
    """Sign up an author and ``followers`` accounts that follow them; the
    author's token and the followers' tokens."""
    author, *fans = await sign_up_many(
        client, ["author", *(f"{prefix}{n}" for n in range(followers))]
    )
    tokens = [fan["token"] for fan in fans]
    gate = asyncio.Semaphore(SIGN_UP_CONCURRENCY)

    async def follow(token: str) -> None:
        async with gate:
            await execute(client, FOLLOW, {"id": author["user"]["id"]}, token=token)

    await asyncio.gather(*(follow(t) for t in tokens))
    return author["token"], tokens


async def post(client: httpx.AsyncClient, token: str, text: str) -> str:
    """Post a tweet; its id (once ``postTweet`` returned)."""
    return (await execute(client, POST, {"text": text}, token=token))["postTweet"]["id"]


@dataclass
class Subscriber:
    """One connection with one homeFeed subscription; records when each tweet arrives."""

    ws: ClientConnection
    arrivals: dict[str, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def listen(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            kind = message["type"]
            if kind == "ping":
                await self.ws.send('{"type":"pong"}')
            elif kind == "next":
                tweet = message["payload"]["data"]["homeFeed"]
                self.arrivals[tweet["id"]] = time.perf_counter()
                self.arrived.set()
            elif kind in ("error", "complete"):
                raise RuntimeError(f"subscription ended: {message}")


async def open_subscribers(
    url: str, tokens: list[str], document: str = HOME_FEED
) -> list[Subscriber]:
    """A connection per token, each with one subscription, listening."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(token: str) -> Subscriber:
        async with gate:
            ws = await connect(url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S))
            if ack["type"] != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            payload = {"query": document}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            subscriber = Subscriber(ws)
            subscriber.task = asyncio.create_task(subscriber.listen())
            return subscriber

    return list(await asyncio.gather(*(one(t) for t in tokens)))


async def close_subscribers(subscribers: list[Subscriber]) -> None:
    for subscriber in subscribers:
        if subscriber.task:
            subscriber.task.cancel()
    await asyncio.gather(*(s.ws.close() for s in subscribers), return_exceptions=True)


async def wait_all_arrived(
    subscribers: list[Subscriber], tweet_id: str, timeout_s: float = RECEIVE_TIMEOUT_S
) -> None:
    """Until every subscriber has ``tweet_id`` (or fail)."""
    deadline = time.perf_counter() + timeout_s
    for subscriber in subscribers:
        while tweet_id not in subscriber.arrivals:
            if subscriber.task and subscriber.task.done():
                subscriber.task.result()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                missing = sum(tweet_id not in s.arrivals for s in subscribers)
                raise TimeoutError(f"{missing} subscribers never got {tweet_id}")
            subscriber.arrived.clear()
            try:
                await asyncio.wait_for(subscriber.arrived.wait(), remaining)
            except TimeoutError:
                continue


async def until_all_live(
    client: httpx.AsyncClient, token: str, subscribers: list[Subscriber]
) -> int:
    """Post tweets until every subscriber received one: a subscription starts
    listening a moment after its ``subscribe`` message, and the protocol has no
    acknowledgement for it. Returns the number of tweets it took."""
    deadline = time.perf_counter() + RECEIVE_TIMEOUT_S
    posted = 0
    while any(not s.arrivals for s in subscribers):
        if time.perf_counter() > deadline:
            raise TimeoutError("subscriptions did not become live")
        tweet_id = await post(client, token, f"anyone there? {posted}")
        posted += 1
        try:
            await wait_all_arrived(subscribers, tweet_id, timeout_s=LIVE_PROBE_S)
        except TimeoutError:
            continue
    return posted


def rss_bytes(pid: int) -> int:
    """Resident memory of the server's Python process (not its embedded databases)."""
    return int(psutil.Process(pid).memory_info().rss)


Measure = Callable[[str, int], Awaitable[dict[str, Any]]]


def run_both(args: argparse.Namespace, measure: Measure) -> tuple[dict[str, Any], dict[str, Any]]:
    """``measure(base_url, server_pid)`` against ``chirp serve`` on a fresh data
    directory, then against the baseline; each side a real process."""
    results = []
    with data_dir(args.data_dir) as directory:
        commands = [
            chirp_command(directory, free_port()),
            uvicorn_command("baseline", BASELINE_APP, free_port()),
        ]
        for command in commands:
            with running(command) as server:
                server.wait_ready(args.ready_timeout)
                results.append(run_async(partial(measure, server.base_url, server.process.pid)))
    chirp, baseline = results
    return chirp, {**baseline, "app": BASELINE_APP}
