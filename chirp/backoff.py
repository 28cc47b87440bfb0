"""Delays between attempts to reach a server that went away.

Every long-lived connection (the relay's LISTEN, the pub/sub connection, the
stream consumers) retries with the same policy: quickly at first, since most
outages are a restart that takes a second or two, then less and less often,
so a long outage costs a handful of attempts a minute rather than a flood of
failed connects and log lines. Delays are jittered so the processes of a
fleet, all cut off by the same restart, do not all come back in one instant.
"""

from __future__ import annotations

import random
from typing import Final

#: The exponent stops growing here; the cap bounds the delay long before.
_MAX_DOUBLINGS: Final = 32


class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between half
    and all of ``min(cap, initial * 2**n)`` seconds."""

    def __init__(self, *, initial: float, cap: float) -> None:
        self.initial = initial
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; counts one more failure."""
        ceiling = min(self.cap, self.initial * 2 ** min(self.failures, _MAX_DOUBLINGS))
        self.failures += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """The server answered: the next failure starts from ``initial`` again."""
        self.failures = 0
