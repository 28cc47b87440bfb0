"""One producer per key for all the local readers of a process.

Say, one recomputation of the trends list per process, not one per socket:
the first reader of a key starts its producer, the last one out stops it, and
each reader holds only the newest value it has not seen (never a backlog), so
a slow reader costs one slot, not a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Failed:
    """The producer died: its readers raise this (and the next reader restarts it)."""

    error: Exception


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


class SharedFeeds:
    """The running producers of one process, by key."""

    def __init__(self) -> None:
        self._feeds: dict[str, _SharedFeed[Any]] = {}

    def __len__(self) -> int:
        return len(self._feeds)

    @contextlib.asynccontextmanager
    async def read(
        self, key: str, producer: Callable[[], AsyncIterator[T]]
    ) -> AsyncIterator[AsyncIterator[T]]:
        """Read the values of the one ``producer()`` for ``key``; a new reader
        gets the latest value at once."""
        feed = self._feeds.get(key)
        if feed is None or feed.task.done():
            feed = self._feeds[key] = _SharedFeed(producer())
        reader: _Latest[T] = _Latest()
        feed.readers.add(reader)
        for value in feed.latest:
            reader.offer(value)
        try:
            yield reader
        finally:
            feed.readers.discard(reader)
            if not feed.readers and self._feeds.get(key) is feed:
                del self._feeds[key]
                feed.task.cancel()
                await asyncio.gather(feed.task, return_exceptions=True)

    def close(self) -> None:
        for feed in self._feeds.values():
            feed.task.cancel()
        self._feeds.clear()
