"""Live events over Redis pub/sub, behind one small interface.

Every process keeps *one* Redis pub/sub connection for all of its local
subscribers (a Redis connection per websocket would cost a socket and a
buffer on both sides per client). A reader task takes messages off that
connection and hands each to the bounded queue of every local subscriber of
its channel. A subscriber that falls ``SUBSCRIBER_QUEUE_SIZE`` messages
behind is dropped (:class:`SlowConsumer`) rather than allowed to grow memory.

Pub/sub is fire-and-forget: a message published while the connection is
down, or to a user whose presence key Redis lost, is gone. Such gaps are
never silent. Whenever the connection is lost or re-made (whoever noticed:
the reader, a SUBSCRIBE, redis-py's own reconnect), and whenever the
presence check (:mod:`chirp.persistence.presence`) finds Redis lost its keys,
every subscriber that may have missed something ends with
:class:`Interrupted`; ``signal`` subscribers (who re-read state rather than
consume events) are woken instead. While the connection is down new
subscribers are refused with :class:`Interrupted` at once rather than left
listening to nothing. The reader reconnects with backoff; redis-py
re-subscribes the channels still wanted on each reconnect.

``subscribe()`` is an async context manager: on exit, however the block ends
(complete, error, cancelled socket), the subscriber leaves its channels, and
the last one out of a channel unsubscribes the process from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection, ConnectionPool
from redis.exceptions import RedisError

from chirp.backoff import Backoff
from chirp.persistence.presence import CHECK_SECONDS, PRESENCE_TTL_SECONDS, Presence
from chirp.persistence.shared_feeds import SharedFeeds
from chirp.persistence.subscription import (
    RESYNC,
    Interrupted,
    Message,
    SlowConsumer,
    Subscription,
)

__all__ = [
    "PRESENCE_TTL_SECONDS",
    "Broker",
    "Interrupted",
    "Message",
    "SlowConsumer",
    "Subscription",
]

log = logging.getLogger(__name__)

#: Messages a subscriber may fall behind before it is dropped. A live client
#: takes each message in well under a millisecond; 256 pending means its
#: socket is not draining, and caps what one stuck client can hold.
SUBSCRIBER_QUEUE_SIZE: Final = 256
#: How long one read waits for a message before the reader loops (and can
#: notice it was stopped); messages arriving meanwhile are read at once.
READ_TIMEOUT_SECONDS: Final = 1.0
#: Reconnect backoff: a restart is usually back within a second or two; a
#: long outage costs one attempt every 2 s (one connect, no log line each).
#: Short because new subscribers are refused until the connection is back.
RECONNECT_INITIAL_SECONDS: Final = 0.1
RECONNECT_MAX_SECONDS: Final = 2.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """What the process holds right now (tests assert these go back to zero)."""

    subscribers: int
    channels: int
    presence_keys: int
    #: Subscribers dropped as slow that have not ended yet.
    dropped: int
    #: Shared producers running (one per key with readers).
    shared: int
    #: Whether new subscribers are accepted (the pub/sub connection is up).
    connected: bool
    #: Times every subscriber was told it may have missed messages.
    interruptions: int


class _PubSub(PubSub):
    """redis-py's PubSub, telling the broker each time its connection is re-made.

    redis-py reconnects on the next command after a failure and re-subscribes
    every channel in ``self.channels`` (its ``on_connect``). Each such
    reconnect is a gap; ``on_reconnect`` is told, and returns the channels
    still wanted, so channels whose UNSUBSCRIBE was lost are not restored."""

    def __init__(
        self, pool: ConnectionPool, *, on_reconnect: Callable[[], Collection[str]]
    ) -> None:
        super().__init__(pool, ignore_subscribe_messages=True)
        self._on_reconnect = on_reconnect

    async def on_connect(self, connection: Connection) -> None:  # type: ignore[override]
        self.channels = dict.fromkeys(self._on_reconnect())
        await super().on_connect(connection)


class Broker:
    """The process's pub/sub: publish anywhere, subscribe locally."""

    def __init__(self, redis: Redis, *, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self._redis = redis
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._members: set[Subscription] = set()
        self._presence = Presence(redis)
        self._pubsub: _PubSub | None = None
        self._lock = asyncio.Lock()  # orders SUBSCRIBE/UNSUBSCRIBE on the one connection
        self._tasks: list[asyncio.Task[None]] = []
        self._shared = SharedFeeds()
        #: False from a lost connection until it is re-made.
        self._connected = True
        #: Set on a reconnect: the watcher re-asserts the presence keys.
        self._resync = asyncio.Event()
        self._backoff = Backoff(initial=RECONNECT_INITIAL_SECONDS, cap=RECONNECT_MAX_SECONDS)
        self._interruptions = 0

    async def publish(self, channel: str, data: str) -> int:
        """Send to every subscriber of ``channel`` in any process; how many processes got it."""
        return int(await self._redis.publish(channel, data))

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """``(channel, data)`` pairs, in one round trip."""
        if not messages:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, data in messages:
                pipe.publish(channel, data)
            await pipe.execute()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channels: Sequence[str], *, presence: Sequence[str] = (), signal: bool = False
    ) -> AsyncIterator[Subscription]:
        """Listen on ``channels`` and hold the ``presence`` keys until the block exits.

        A ``signal`` subscriber only needs to know that something happened: it
        keeps one pending message, is never dropped for falling behind, and is
        woken (with :data:`RESYNC`) rather than ended when messages may have
        been missed. Raises :class:`Interrupted` while the connection is down.
        """
        subscription = Subscription(self, self._queue_size, signal=signal)
        self._members.add(subscription)
        try:
            if not self._connected:
                raise Interrupted("the pub/sub connection is down")
            subscription.presence = tuple(presence)
            try:
                await self._presence.hold(subscription.presence)
            except (RedisError, OSError) as exc:
                raise Interrupted(f"could not hold presence keys: {exc!r}") from exc
            await self._join(subscription, channels)
            yield subscription
        finally:
            self._members.discard(subscription)
            # Shielded: a cancelled websocket task must still leave its channels.
            await asyncio.shield(self._release(subscription))

    @contextlib.asynccontextmanager
    async def shared(
        self, key: str, producer: Callable[[], AsyncIterator[T]]
    ) -> AsyncIterator[AsyncIterator[T]]:
        """Read the values of the process's one ``producer()`` for ``key``: started
        by the first reader, stopped when the last one leaves. A new reader gets
        the latest value at once."""
        async with self._shared.read(key, producer) as reader:
            yield reader

    @property
    def stats(self) -> BrokerStats:
        return BrokerStats(
            subscribers=len(self._members),
            channels=len(self._subscribers),
            presence_keys=len(self._presence),
            dropped=sum(s.dropped for s in self._members),
            shared=len(self._shared),
            connected=self._connected,
            interruptions=self._interruptions,
        )

    async def _release(self, subscription: Subscription) -> None:
        await self._leave(subscription, list(subscription.channels))
        self._presence.release(subscription.presence)
        if not self._members:
            self._presence.disarm()

    async def _join(self, subscription: Subscription, channels: Sequence[str]) -> None:
        new = [c for c in channels if c not in subscription.channels]
        async with self._lock:
            first = [c for c in new if not self._subscribers.get(c)]
            for channel in new:
                self._subscribers[channel].add(subscription)
                subscription.channels.add(channel)
            if first:
                if self._pubsub is None:
                    self._pubsub = _PubSub(
                        self._redis.connection_pool, on_reconnect=self._reconnected
                    )
                    self._start()
                try:
                    await self._pubsub.subscribe(*first)
                except (RedisError, OSError) as exc:
                    raise Interrupted(f"could not subscribe: {exc!r}") from exc

    async def _leave(self, subscription: Subscription, channels: Sequence[str]) -> None:
        async with self._lock:
            last = []
            for channel in channels:
                subscription.channels.discard(channel)
                listeners = self._subscribers.get(channel)
                if listeners is None:
                    continue
                listeners.discard(subscription)
                if not listeners:
                    del self._subscribers[channel]
                    last.append(channel)
            if last and self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(*last)
                except (RedisError, OSError):  # a reconnect restores only wanted channels
                    log.info("could not unsubscribe from %d channels", len(last))

    def _start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._read(), name="pubsub-reader"),
                asyncio.create_task(self._watch(), name="pubsub-presence"),
            ]

    def _interrupt(
        self, reason: str, *, keys: frozenset[str] | None = None, wake: bool = True
    ) -> None:
        """End every subscriber that may have missed messages (those holding one
        of ``keys``, or all) with :class:`Interrupted`; wake ``signal`` ones
        (unless Redis is away: they would re-read from nothing)."""
        told = 0
        for subscription in tuple(self._members):
            if keys is not None and not keys.intersection(subscription.presence):
                continue
            if subscription.signal:
                if wake:
                    subscription._offer(RESYNC)
            else:
                subscription._end(Interrupted(reason))
                told += 1
        self._interruptions += 1
        level = logging.WARNING if told else logging.INFO
        log.log(level, "live delivery interrupted (%s): %d subscribers told", reason, told)

    def _lost(self, exc: BaseException) -> None:
        """The reader's connection failed: tell everyone once, refuse newcomers."""
        if self._connected:
            self._connected = False
            self._interrupt(f"pub/sub connection lost: {exc!r}", wake=False)

    def _reconnected(self) -> list[str]:
        """Called by redis-py on every reconnect, before it re-subscribes."""
        self._interrupt("pub/sub connection re-made")
        self._presence.mark_stale()
        self._resync.set()
        self._connected = True
        self._backoff.reset()
        return list(self._subscribers)

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=READ_TIMEOUT_SECONDS
                )
            except (RedisError, OSError) as exc:
                self._lost(exc)
                # The next get_message reconnects; redis-py calls _reconnected.
                await asyncio.sleep(self._backoff.next_delay())
                continue
            if not self._connected:  # a failed read that needed no reconnect
                self._reconnected()
            if message is None or message.get("type") != "message":
                continue
            delivered = Message(message["channel"], message["data"])
            for subscription in tuple(self._subscribers.get(delivered.channel, ())):
                subscription._offer(delivered)

    async def _watch(self) -> None:
        """Re-assert presence after a reconnect; check for lost keys meanwhile."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync.wait(), CHECK_SECONDS)
            try:
                if self._resync.is_set():
                    await self._presence.reassert()
                    self._resync.clear()
                    continue
                if not self._connected or not self._members:
                    continue
                lost = await self._presence.check()
            except (RedisError, OSError) as exc:
                log.info("presence check failed (%r); retrying", exc)
                await asyncio.sleep(CHECK_SECONDS)  # the reader handles the reconnect
                continue
            if lost is not None and lost.everything:
                self._interrupt("Redis lost its data (presence sentinel gone)")
            elif lost is not None:
                self._interrupt("presence keys lost", keys=lost.keys)

    async def close(self) -> None:
        self._shared.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
