"""One local subscriber of the broker (:mod:`chirp.persistence.pubsub`): a
bounded queue of its channels' messages, and how it ends.

A subscription ends by being given an error (:meth:`Subscription._end`) that
its next read raises: :class:`SlowConsumer` when it fell too far behind,
:class:`Interrupted` when it may have missed messages. Ending drops what is
still queued, since the subscriber must refetch anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from chirp.persistence.pubsub import Broker

log = logging.getLogger(__name__)


class SlowConsumer(Exception):
    """The subscriber fell too far behind and was dropped."""


class Interrupted(Exception):
    """Live delivery was interrupted: this subscriber may have missed messages
    (or, when subscribing, cannot be served right now)."""


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    data: str


#: What a ``signal`` subscriber is woken with when something may have been missed.
RESYNC: Final = Message(channel="", data="")


class Subscription:
    """One subscriber's view: an async iterator over its channels' messages."""

    def __init__(self, broker: Broker, queue_size: int, *, signal: bool = False) -> None:
        self._broker = broker
        # None only wakes a waiting reader to see ``failure``.
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(
            maxsize=1 if signal else queue_size
        )
        self.signal = signal
        self.channels: set[str] = set()
        self.presence: tuple[str, ...] = ()
        #: Why the subscription ended (raised by the next read), if it did.
        self.failure: Exception | None = None

    @property
    def dropped(self) -> bool:
        return isinstance(self.failure, SlowConsumer)

    async def add(self, channel: str) -> None:
        """Also listen on ``channel`` (say, a newly followed author's)."""
        await self._broker._join(self, [channel])

    async def remove(self, channel: str) -> None:
        await self._broker._leave(self, [channel])

    def _offer(self, message: Message) -> None:
        if self.failure is not None:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            if self.signal:
                return  # one pending "something changed" says it all
            log.warning("dropped a subscriber %d messages behind", self._queue.qsize())
            self._end(SlowConsumer())

    def _end(self, error: Exception) -> None:
        """End with ``error``: the next read raises it (pending messages are dropped)."""
        if self.failure is None:
            self.failure = error
            with contextlib.suppress(asyncio.QueueFull):  # a full queue has no waiting reader
                self._queue.put_nowait(None)

    async def get(self, within: float | None = None) -> Message | None:
        """The next message; None when ``within`` seconds pass without one."""
        if self.failure is not None:
            raise self.failure
        if not self._queue.empty():  # the common case under load: no timer needed
            message = self._queue.get_nowait()
        else:
            try:
                message = await asyncio.wait_for(self._queue.get(), within)
            except TimeoutError:
                return None
        if self.failure is not None:
            raise self.failure
        assert message is not None
        return message

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        message = await self.get()
        assert message is not None
        return message
