"""Live events over Redis pub/sub, behind one small interface.

Every process keeps *one* Redis pub/sub connection for all of its local
subscribers (a Redis connection per websocket would cost a socket and a
buffer on both sides per client). A reader task takes messages off that
connection and hands each to the bounded queue of every local subscriber of
its channel. A subscriber that falls ``SUBSCRIBER_QUEUE_SIZE`` messages
behind is dropped (:class:`SlowConsumer`) rather than allowed to grow memory.

Publishers elsewhere learn whether anyone listens through *presence keys*
(Mastodon's ``subscribed:timeline:<id>``): a subscriber holds them while it
lives, one task refreshes every held key of the process in one pipeline, and
a key whose last holder went away simply expires.

``subscribe()`` is an async context manager: on exit, however the block ends
(complete, error, cancelled socket), the subscriber leaves its channels, and
the last one out of a channel unsubscribes the process from Redis.

``shared()`` runs one producer per key for all local readers (say, one
recomputation of the trends list per process, not one per socket); each
reader sees the latest value, never a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Messages a subscriber may fall behind before it is dropped. A live client
#: takes each message in well under a millisecond; 256 pending means its
#: socket is not draining, and caps what one stuck client can hold.
SUBSCRIBER_QUEUE_SIZE: Final = 256
#: A presence key outlives its last refresh by this much, so a process that
#: dies without cleaning up stops attracting publishes within a minute.
PRESENCE_TTL_SECONDS: Final = 60
#: Refresh often enough that two missed refreshes still keep a key alive.
PRESENCE_REFRESH_SECONDS: Final = PRESENCE_TTL_SECONDS / 3
#: How long one read waits for a message before the reader loops (and can
#: notice it was stopped); messages arriving meanwhile are read at once.
READ_TIMEOUT_SECONDS: Final = 1.0
#: After a Redis error the reader retries this often (redis-py reconnects and
#: re-subscribes every channel on the next read).
RETRY_SECONDS: Final = 0.5


T = TypeVar("T")


class SlowConsumer(Exception):
    """The subscriber fell too far behind and was dropped."""


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    data: str


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


class Subscription:
    """One subscriber's view: an async iterator over its channels' messages."""

    def __init__(self, broker: Broker, queue_size: int, *, signal: bool = False) -> None:
        self._broker = broker
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=1 if signal else queue_size)
        self._signal = signal
        self.channels: set[str] = set()
        self.dropped = False

    async def add(self, channel: str) -> None:
        """Also listen on ``channel`` (say, a newly followed author's)."""
        await self._broker._join(self, [channel])

    async def remove(self, channel: str) -> None:
        await self._broker._leave(self, [channel])

    def _offer(self, message: Message) -> None:
        if self.dropped:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            if self._signal:
                return  # one pending "something changed" says it all
            self.dropped = True
            log.warning("dropped a subscriber %d messages behind", self._queue.qsize())

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        if self.dropped:
            raise SlowConsumer()
        return await self._queue.get()


class _Latest(Generic[T]):
    """A reader of a shared producer: holds only the newest value it has not seen."""

    def __init__(self) -> None:
        self._slot: asyncio.Queue[T | _Failed] = asyncio.Queue(maxsize=1)

    def offer(self, value: T | _Failed) -> None:
        if self._slot.full():
            self._slot.get_nowait()
        self._slot.put_nowait(value)

    def __aiter__(self) -> _Latest[T]:
        return self

    async def __anext__(self) -> T:
        value = await self._slot.get()
        if isinstance(value, _Failed):
            raise value.error
        return value


@dataclass(frozen=True, slots=True)
class _Failed:
    """The producer died: its readers raise this (and the next reader restarts it)."""

    error: Exception


class _SharedFeed(Generic[T]):
    def __init__(self, producer: AsyncIterator[T]) -> None:
        self.readers: set[_Latest[T]] = set()
        self.latest: list[T] = []
        self.task = asyncio.create_task(self._run(producer), name="shared-feed")

    async def _run(self, producer: AsyncIterator[T]) -> None:
        try:
            async with contextlib.aclosing(producer):  # type: ignore[type-var]
                async for value in producer:
                    self.latest = [value]
                    for reader in tuple(self.readers):
                        reader.offer(value)
        except Exception as exc:  # handed to the readers, whose clients see it
            for reader in tuple(self.readers):
                reader.offer(_Failed(exc))


class Broker:
    """The process's pub/sub: publish anywhere, subscribe locally."""

    def __init__(self, redis: Redis, *, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self._redis = redis
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._presence: Counter[str] = Counter()
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()  # orders SUBSCRIBE/UNSUBSCRIBE on the one connection
        self._tasks: list[asyncio.Task[None]] = []
        self._shared: dict[str, _SharedFeed[Any]] = {}

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
        keeps one pending message and is never dropped for falling behind.
        """
        subscription = Subscription(self, self._queue_size, signal=signal)
        try:
            await self._hold(presence)
            await self._join(subscription, channels)
            yield subscription
        finally:
            # Shielded: a cancelled websocket task must still leave its channels.
            await asyncio.shield(self._release(subscription, presence))

    @contextlib.asynccontextmanager
    async def shared(
        self, key: str, producer: Callable[[], AsyncIterator[T]]
    ) -> AsyncIterator[AsyncIterator[T]]:
        """Read the values of the process's one ``producer()`` for ``key``: started
        by the first reader, stopped when the last one leaves. A new reader gets
        the latest value at once."""
        feed = self._shared.get(key)
        if feed is None or feed.task.done():
            feed = self._shared[key] = _SharedFeed(producer())
        reader: _Latest[T] = _Latest()
        feed.readers.add(reader)
        for value in feed.latest:
            reader.offer(value)
        try:
            yield reader
        finally:
            feed.readers.discard(reader)
            if not feed.readers and self._shared.get(key) is feed:
                del self._shared[key]
                feed.task.cancel()
                await asyncio.gather(feed.task, return_exceptions=True)

    async def _release(self, subscription: Subscription, presence: Sequence[str]) -> None:
        await self._leave(subscription, list(subscription.channels))
        for key in presence:
            self._presence[key] -= 1
            if self._presence[key] <= 0:
                del self._presence[key]

    @property
    def stats(self) -> BrokerStats:
        subscribers = {s for subs in self._subscribers.values() for s in subs}
        return BrokerStats(
            subscribers=len(subscribers),
            channels=len(self._subscribers),
            presence_keys=len(self._presence),
            dropped=sum(s.dropped for s in subscribers),
            shared=len(self._shared),
        )

    async def _hold(self, keys: Sequence[str]) -> None:
        fresh = [key for key in keys if not self._presence[key]]
        self._presence.update(keys)
        if fresh:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in fresh:
                    pipe.set(key, "1", ex=PRESENCE_TTL_SECONDS)
                await pipe.execute()

    async def _join(self, subscription: Subscription, channels: Sequence[str]) -> None:
        new = [c for c in channels if c not in subscription.channels]
        async with self._lock:
            first = [c for c in new if not self._subscribers.get(c)]
            for channel in new:
                self._subscribers[channel].add(subscription)
                subscription.channels.add(channel)
            if first:
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.subscribe(*first)
                self._start()

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
                except RedisError:  # the reconnect re-subscribes only live channels
                    log.warning("could not unsubscribe from %d channels", len(last))

    def _start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._read(), name="pubsub-reader"),
                asyncio.create_task(self._refresh(), name="pubsub-presence"),
            ]

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=READ_TIMEOUT_SECONDS
                )
            except (RedisError, OSError) as exc:
                log.warning("pub/sub read failed (%r); retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if message is None or message.get("type") != "message":
                continue
            delivered = Message(message["channel"], message["data"])
            for subscription in tuple(self._subscribers.get(delivered.channel, ())):
                subscription._offer(delivered)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_SECONDS)
            keys = list(self._presence)
            if not keys:
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.set(key, "1", ex=PRESENCE_TTL_SECONDS)
                    await pipe.execute()
            except RedisError as exc:
                log.warning("could not refresh %d presence keys: %r", len(keys), exc)

    async def close(self) -> None:
        for feed in self._shared.values():
            feed.task.cancel()
        self._shared.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
