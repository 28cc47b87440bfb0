"""Live subscriptions under faults, over real websockets on both subprotocols:
a FLUSHALL and a Redis restart end them with ``EVENTS_MISSED`` (never a silent
gap), and a revoked token ends them with ``UNAUTHENTICATED``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from chirp.persistence import live
from chirp.runtime import Runtime
from chirp.services import live as live_service
from chirp.services import tweets
from tests.faults import with_private_redis
from tests.live import (
    PROTOCOLS,
    TRANSPORT_WS,
    GraphQLSocket,
    http_url,
    running_server,
    until_listening,
)
from tests.support import create_users, eventually, tokens_for

HOME_FEED = "subscription { homeFeed { id text } }"
NOTIFICATIONS = "subscription { notifications { kind } }"
#: FLUSHALL is noticed within a second (the broker's check); allow for a busy box.
NOTICED_SECONDS = 5.0
#: A Redis restart is noticed on the next read, then retried with backoff.
RESTART_SECONDS = 60.0


async def endings(ws: GraphQLSocket, op_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The errors each of ``op_ids`` ended with, whatever order they end in
    (``error``, or ``next`` with errors and then ``complete``)."""
    errors: dict[str, list[dict[str, Any]]] = {}
    open_ops = set(op_ids)
    while open_ops:
        message = await ws.receive()
        op_id = message.get("id")
        assert op_id in op_ids, message
        if message["type"] == "error":
            payload = message["payload"]
            errors[op_id] = payload if isinstance(payload, list) else [payload]
            open_ops.discard(op_id)
        elif message["type"] == "next":
            assert message["payload"].get("errors"), message  # no data after the fault
            errors[op_id] = message["payload"]["errors"]
        else:
            assert message["type"] == "complete" and op_id in errors, message
            open_ops.discard(op_id)
    return errors


def codes(errors: list[dict[str, Any]]) -> list[str]:
    return [error["extensions"]["code"] for error in errors]


# ------------------------------------------------------------------ Redis faults


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_flushall_ends_live_subscriptions_with_events_missed(
    clean: Runtime, protocol: str
) -> None:
    [alice] = await create_users(clean, ["alice"])
    [token] = await tokens_for(clean, alice.id)
    loop = asyncio.get_running_loop()
    async with running_server(clean) as url, GraphQLSocket.open(url, protocol, token=token) as ws:
        await ws.subscribe("feed", HOME_FEED)
        await ws.subscribe("n", NOTIFICATIONS)
        await until_listening(clean, live.timeline_channel(alice.id))
        await until_listening(clean, live.notifications_channel(alice.id))

        flushed_at = loop.time()
        await clean.redis.flushall()  # presence keys, the stream and its groups: all gone
        ended = await endings(ws, {"feed", "n"})
        assert loop.time() - flushed_at < NOTICED_SECONDS
        for errors in ended.values():
            [error] = errors
            assert error["extensions"] == {"code": "EVENTS_MISSED", "retryAfter": 1}
            assert "subscribe again" in error["message"]

        # What the client does next works: subscribe again (and refetch).
        await ws.subscribe("again", HOME_FEED)

        async def watched() -> bool:
            return bool(await clean.redis.exists(live.timeline_presence(alice.id)))

        await eventually(watched)
        posted = await tweets.post_tweet(clean, author_id=alice.id, text="after the flush")
        assert (await ws.next_data("again"))["homeFeed"]["text"] == posted.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_redis_restart_ends_subscriptions_and_refuses_new_ones_until_it_is_back(
    clean: Runtime, protocol: str
) -> None:
    async with with_private_redis(clean) as (rt, redis_server):
        [alice] = await create_users(rt, ["alice"])
        [token] = await tokens_for(rt, alice.id)
        async with running_server(rt) as url, GraphQLSocket.open(url, protocol, token=token) as ws:
            await ws.subscribe("feed", HOME_FEED)
            await until_listening(rt, live.timeline_channel(alice.id))

            redis_server.kill()
            [error] = (await endings(ws, {"feed"}))["feed"]
            assert error["extensions"] == {"code": "EVENTS_MISSED", "retryAfter": 1}

            await ws.subscribe("while-down", HOME_FEED)  # refused, not left deaf
            assert codes((await endings(ws, {"while-down"}))["while-down"]) == ["EVENTS_MISSED"]

            redis_server.start()

            async def back() -> bool:
                return rt.broker.stats.connected

            await eventually(back, RESTART_SECONDS)
            await ws.subscribe("again", HOME_FEED)

            async def subscribed() -> bool:
                return rt.broker.stats.subscribers == 1

            await eventually(subscribed)
            posted = await tweets.post_tweet(rt, author_id=alice.id, text="after the restart")
            message = await ws.receive(RESTART_SECONDS)  # the workers reconnect too
            assert message["id"] == "again" and message["type"] == "next", message
            assert message["payload"]["data"]["homeFeed"]["text"] == posted.text


# ------------------------------------------------------------------ revoked tokens

LOG_OUT = "mutation { logOut }"


async def log_out(url: str, token: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            http_url(url), json={"query": LOG_OUT}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.json() == {"data": {"logOut": True}}, response.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_logging_out_ends_live_subscriptions_on_open_sockets(
    clean: Runtime, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle subscriptions end within TOKEN_RECHECK_SECONDS (shortened here)."""
    monkeypatch.setattr(live_service, "TOKEN_RECHECK_SECONDS", 0.2)
    [alice] = await create_users(clean, ["alice"])
    [token] = await tokens_for(clean, alice.id)
    async with running_server(clean) as url, GraphQLSocket.open(url, protocol, token=token) as ws:
        await ws.subscribe("feed", HOME_FEED)
        await ws.subscribe("n", NOTIFICATIONS)
        await until_listening(clean, live.timeline_channel(alice.id))
        await until_listening(clean, live.notifications_channel(alice.id))

        await log_out(url, token)
        ended = await endings(ws, {"feed", "n"})
        assert {op: codes(errors) for op, errors in ended.items()} == {
            "feed": ["UNAUTHENTICATED"],
            "n": ["UNAUTHENTICATED"],
        }

        # The socket stays open, but its token opens nothing any more.
        await ws.subscribe("again", NOTIFICATIONS)
        assert codes((await endings(ws, {"again"}))["again"]) == ["UNAUTHENTICATED"]
        if protocol == TRANSPORT_WS:  # the legacy protocol carries subscriptions only
            await ws.subscribe("viewer", "query { viewer { handle } }")
            assert codes((await endings(ws, {"viewer"}))["viewer"]) == ["UNAUTHENTICATED"]
        assert clean.broker.stats.subscribers == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_nothing_is_delivered_after_log_out(
    clean: Runtime, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the timer out of the way, the check on delivery alone ends it."""
    monkeypatch.setattr(live_service, "TOKEN_RECHECK_SECONDS", 3600.0)
    [alice] = await create_users(clean, ["alice"])
    [token] = await tokens_for(clean, alice.id)
    async with running_server(clean) as url, GraphQLSocket.open(url, protocol, token=token) as ws:
        await ws.subscribe("feed", HOME_FEED)
        await until_listening(clean, live.timeline_channel(alice.id))
        await tweets.post_tweet(clean, author_id=alice.id, text="before")
        assert (await ws.next_data("feed"))["homeFeed"]["text"] == "before"

        await log_out(url, token)
        await tweets.post_tweet(clean, author_id=alice.id, text="after")
        assert codes((await endings(ws, {"feed"}))["feed"]) == ["UNAUTHENTICATED"]
