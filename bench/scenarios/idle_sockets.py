"""``idle-sockets``: what one idle, subscribed websocket costs the server in memory.

Each side (Chirp's ``chirp serve``; the bare Strawberry baseline) gets
``USERS`` accounts through the API; then ``CONNECTIONS`` websockets each
subscribe to ``homeFeed`` (users take turns, ``CONNECTIONS / USERS`` sockets
each) and sit idle. The server process's RSS is read before the sockets open
and once they are all subscribed (and a tweet reached every one, proving
them live); growth per connection is the difference over ``CONNECTIONS``.
Only the Python server process is counted: Chirp's Redis holds one pub/sub
connection per process, not per socket.
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx

from bench import sockets
from bench.scenario import Measurement

CONNECTIONS = 5_000
#: Accounts behind the sockets: signing up costs an argon2 hash each on
#: Chirp's side, so 5,000 accounts would take minutes of setup; sockets per
#: account do not share per-socket state (only the user's channel).
USERS = 500


async def _measure(base_url: str, pid: int) -> dict[str, Any]:
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        author_token, tokens = await sockets.author_and_followers(
            client, followers=USERS, prefix="idle"
        )
        # Warm the server's code paths with a few sockets before the baseline read.
        warm = await sockets.open_subscribers(ws_url, tokens[:10])
        await sockets.until_all_live(client, author_token, warm)
        await sockets.close_subscribers(warm)
        before = sockets.rss_bytes(pid)
        subscribers = await sockets.open_subscribers(
            ws_url, [tokens[n % USERS] for n in range(CONNECTIONS)]
        )
        try:
            await sockets.until_all_live(client, author_token, subscribers)
            after = sockets.rss_bytes(pid)
        finally:
            await sockets.close_subscribers(subscribers)
    growth = after - before
    return {
        "connections": CONNECTIONS,
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "rss_per_connection_kib": round(growth / CONNECTIONS / 1024, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    chirp, baseline = sockets.run_both(args, _measure)
    per = "rss_per_connection_kib"
    return {
        "users": USERS,
        "chirp": chirp,
        "baseline": baseline,
        "ratio": {per: round(chirp[per] / max(baseline[per], 0.1), 2)},
    }


SCENARIO = Measurement(
    name="idle-sockets",
    summary=f"server RSS growth per idle homeFeed websocket at {CONNECTIONS} connections",
    run=run,
)
