"""The pub/sub interface on real Redis: one connection per process, bounded
queues, presence keys, and cleanup however a subscriber ends."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import aclosing

import pytest

from chirp.errors import RateLimited
from chirp.persistence import live
from chirp.persistence.pubsub import PRESENCE_TTL_SECONDS, Broker, SlowConsumer
from chirp.runtime import Runtime
from chirp.services import live as live_service
from tests.live import listeners, until_listening
from tests.support import eventually


async def pubsub_connections(rt: Runtime) -> int:
    return len(await rt.redis.client_list(_type="pubsub"))


async def test_every_subscriber_of_a_process_shares_one_redis_connection(clean: Runtime) -> None:
    broker = Broker(clean.redis)
    try:
        async with (
            broker.subscribe(["a", "b"]) as first,
            broker.subscribe(["b", "c"]) as second,
            broker.subscribe([f"ch{n}" for n in range(50)]),
        ):
            assert await pubsub_connections(clean) == 1
            assert broker.stats.channels == 53
            assert await broker.publish("b", "to both") == 1  # one process listens
            assert (await anext(first)).data == "to both"
            assert (await anext(second)).data == "to both"
        assert (broker.stats.subscribers, broker.stats.channels) == (0, 0)
        assert [await listeners(clean, c) for c in ("a", "b", "c")] == [0, 0, 0]
    finally:
        await broker.close()


async def test_a_subscriber_that_falls_behind_is_dropped(clean: Runtime) -> None:
    broker = Broker(clean.redis, queue_size=3)
    try:
        async with broker.subscribe(["busy"]) as slow:
            for n in range(5):
                await broker.publish("busy", str(n))
            await eventually(lambda: _true(slow.dropped))
            with pytest.raises(SlowConsumer):
                await anext(slow)
        assert broker.stats.subscribers == 0
    finally:
        await broker.close()


async def test_a_dropped_live_subscription_ends_with_rate_limited(clean: Runtime) -> None:
    rt = dataclasses.replace(clean, broker=Broker(clean.redis, queue_size=2))
    try:
        async with aclosing(live_service.notifications(rt, user_id=7)) as ids:
            first = asyncio.ensure_future(anext(ids))
            await until_listening(rt, live.notifications_channel(7))
            for n in range(4):  # one taken by `first`, two queued, one too many
                await rt.redis.publish(live.notifications_channel(7), live.encode(notification=n))
            await eventually(lambda: _true(rt.broker.stats.dropped == 1))
            assert await first == 0
            with pytest.raises(RateLimited) as raised:
                while True:
                    await anext(ids)
            assert raised.value.extensions == {"code": "RATE_LIMITED", "retryAfter": 1}
    finally:
        await rt.broker.close()


async def test_a_cancelled_subscriber_leaves_its_channels(clean: Runtime) -> None:
    broker = Broker(clean.redis)
    entered = asyncio.Event()

    async def listen() -> None:
        async with broker.subscribe(["gone"], presence=["presence:gone"]) as sub:
            entered.set()
            await anext(sub)

    try:
        task = asyncio.create_task(listen())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: _true(broker.stats.subscribers == 0))
        assert broker.stats.presence_keys == 0
        assert await listeners(clean, "gone") == 0
    finally:
        await broker.close()


async def test_presence_keys_are_held_with_a_ttl_while_subscribed(clean: Runtime) -> None:
    broker = Broker(clean.redis)
    try:
        async with broker.subscribe(["x"], presence=["subscribed:timeline:1"]):
            async with broker.subscribe(["y"], presence=["subscribed:timeline:1"]):
                ttl = await clean.redis.ttl("subscribed:timeline:1")
                assert 0 < ttl <= PRESENCE_TTL_SECONDS
            assert broker.stats.presence_keys == 1  # the other holder still has it
        assert broker.stats.presence_keys == 0
    finally:
        await broker.close()


async def test_timeline_events_go_only_to_watched_users(clean: Runtime) -> None:
    broker = Broker(clean.redis)
    watched, unwatched = 11, 12
    try:
        async with broker.subscribe(
            [live.timeline_channel(watched), live.timeline_channel(unwatched)],
            presence=[live.timeline_presence(watched)],
        ) as sub:
            sent = await live_service.tweet_entered_timelines(
                clean, user_ids=[watched, unwatched], tweet_id=99
            )
            assert sent == 1
            message = await anext(sub)
            assert (message.channel, live.decode(message.data)) == (
                live.timeline_channel(watched),
                {"tweet": 99},
            )
    finally:
        await broker.close()


async def _true(value: bool) -> bool:
    return value
