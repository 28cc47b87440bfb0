"""Long-lived connections come back after their server restarts: the relay's
LISTEN connection (Postgres), the pub/sub connection and the stream consumers
(Redis). Faults are real: ``pg_ctl restart`` of a private embedded Postgres,
SIGKILL and a fresh start of a private redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.exceptions import RedisError

from chirp.backoff import Backoff
from chirp.config import Settings
from chirp.errors import ChirpError
from chirp.persistence import live, outbox, streams
from chirp.persistence.embedded import EmbeddedServers
from chirp.persistence.outbox import OutboxRow
from chirp.runtime import Runtime, open_runtime
from chirp.services import live as live_service
from chirp.workers import relay as relay_module
from chirp.workers.consumer import StreamConsumer
from chirp.workers.relay import Relay
from tests.faults import restart_postgres, with_private_redis
from tests.live import until_listening
from tests.support import eventually

#: Waits that include a server restart and a reconnect backoff on a loaded box.
RESTART_SECONDS = 60.0
#: A notification wakes the relay in milliseconds; polling (1 s) never does
#: better than this on average, so a delivery under it came by NOTIFY.
NOTIFIED_DELIVERY_SECONDS = 0.5


@pytest.fixture
async def private_postgres(tmp_path: Path) -> AsyncIterator[tuple[Runtime, EmbeddedServers]]:
    """A runtime on a Postgres (and Redis) of its own, to restart freely."""
    servers = EmbeddedServers(Settings(data_dir=tmp_path))
    settings = await asyncio.to_thread(servers.start)
    try:
        async with open_runtime(settings) as rt:
            yield rt, servers
    finally:
        await asyncio.to_thread(servers.stop)


@contextlib.asynccontextmanager
async def running(job) -> AsyncIterator[asyncio.Event]:  # type: ignore[no-untyped-def]
    """Run ``job(stop)`` until the block exits; it must then end promptly."""
    stop = asyncio.Event()
    task = asyncio.create_task(job(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _add_event(rt: Runtime, n: int) -> bool:
    """One outbox row (committed, so the trigger notifies); False while Postgres is down."""
    try:
        await outbox.add(rt.db, kind="test", payload={"n": n})
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return True


async def _streamed(rt: Runtime) -> list[int]:
    entries = await rt.redis.xrange(streams.STREAM)
    return [json.loads(fields["payload"])["n"] for _, fields in entries]


async def test_the_relay_listens_again_after_postgres_restarts(
    private_postgres: tuple[Runtime, EmbeddedServers], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, servers = private_postgres
    # Polling once a minute: only a notification can move an event in time.
    monkeypatch.setattr(relay_module, "RELAY_IDLE_SECONDS", 60.0)
    relay = Relay(rt)
    async with running(relay.run):
        await eventually(lambda: _holds(relay.listening))
        assert await _add_event(rt, 1)
        await eventually(lambda: _streamed_is(rt, [1]))
        await eventually(lambda: _outbox_empty(rt))  # committed, not just published

        await asyncio.to_thread(restart_postgres, servers)
        await eventually(lambda: _add_event(rt, 2), RESTART_SECONDS)
        # Caught up when the listener came back, not at the next (60 s) poll.
        await eventually(lambda: _streamed_has(rt, 2), RESTART_SECONDS / 2)
        assert relay.listening and relay.listens == 2

        loop = asyncio.get_running_loop()
        latencies = []
        for n in range(3, 8):
            sent = loop.time()
            assert await _add_event(rt, n)
            await eventually(lambda n=n: _streamed_has(rt, n))
            latencies.append(loop.time() - sent)
        assert sorted(latencies)[2] < NOTIFIED_DELIVERY_SECONDS, latencies


async def test_stream_consumers_resume_after_redis_restarts(clean: Runtime) -> None:
    handled: list[int] = []

    async def handler(_rt: Runtime, event: streams.Event) -> None:
        handled.append(event.payload["n"])

    async with with_private_redis(clean) as (rt, server):
        consumer = StreamConsumer(rt, group="test-group", handler=handler)
        async with running(consumer.run):
            await streams.publish(rt.redis, [OutboxRow(1, "test", {"n": 1})])
            await eventually(lambda: _holds(handled == [1]))

            server.kill()
            await eventually(lambda: _holds(consumer.failures >= 2))
            assert consumer.retry_delay > 0.1  # it backs off while Redis is away
            server.start()

            async def published() -> bool:
                try:
                    await streams.publish(rt.redis, [OutboxRow(2, "test", {"n": 2})])
                except (RedisError, OSError):
                    return False
                return True

            await eventually(published, RESTART_SECONDS)
            await eventually(lambda: _holds(handled == [1, 2]), RESTART_SECONDS)
            assert consumer.failures == 0  # reset by the first good step


async def test_a_lost_pubsub_connection_ends_subscribers_with_events_missed(
    clean: Runtime,
) -> None:
    async with with_private_redis(clean) as (rt, server):
        channel = live.notifications_channel(7)
        async with contextlib.aclosing(live_service.notifications(rt, user_id=7)) as ids:
            first = asyncio.ensure_future(anext(ids))
            await until_listening(rt, channel)
            server.kill()
            with pytest.raises(ChirpError) as raised:
                await asyncio.wait_for(first, RESTART_SECONDS)
            assert raised.value.extensions == {"code": "EVENTS_MISSED", "retryAfter": 1}

        # While Redis is away a new subscriber is refused at once, not left deaf.
        with pytest.raises(ChirpError) as refused:
            async with contextlib.aclosing(live_service.notifications(rt, user_id=7)) as ids:
                await asyncio.wait_for(anext(ids), RESTART_SECONDS)
        assert refused.value.extensions["code"] == "EVENTS_MISSED"

        server.start()
        await eventually(lambda: _holds(rt.broker.stats.connected), RESTART_SECONDS)
        assert rt.broker.stats.subscribers == 0
        assert await rt.redis.pubsub_numsub(channel) == [(channel, 0)]  # no stale channel
        async with contextlib.aclosing(live_service.notifications(rt, user_id=7)) as ids:
            first = asyncio.ensure_future(anext(ids))
            await until_listening(rt, channel)
            await rt.redis.publish(channel, live.encode(notification=41))
            assert await asyncio.wait_for(first, 10) == 41


async def test_a_killed_pubsub_connection_is_noticed_even_when_redis_stays_up(
    clean: Runtime,
) -> None:
    """redis-py reconnects and resubscribes by itself; that is a gap too."""
    broker = clean.broker
    async with broker.subscribe(["gap"], presence=["subscribed:timeline:5"]) as sub:
        await until_listening(clean, "gap")
        await clean.redis.client_kill_filter(_type="pubsub")
        with pytest.raises(Exception) as raised:
            await asyncio.wait_for(anext(sub), 10)
        assert type(raised.value).__name__ == "Interrupted"
    await eventually(lambda: _holds(broker.stats.connected))


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial=0.1, cap=2.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(0.05 <= d <= 2.0 for d in delays), delays
    assert delays[-1] >= 1.0 and delays[0] <= 0.1  # grows, with jitter, to the cap
    backoff.reset()
    assert backoff.next_delay() <= 0.1


async def _holds(value: bool) -> bool:
    return value


async def _streamed_is(rt: Runtime, expected: list[int]) -> bool:
    return await _streamed(rt) == expected


async def _outbox_empty(rt: Runtime) -> bool:
    return await rt.db.fetchval("SELECT count(*) FROM outbox") == 0


async def _streamed_has(rt: Runtime, n: int) -> bool:
    return n in await _streamed(rt)
