"""Snowflake ids, base62, and the opaque global ids clients see.

Snowflake ids (41 bits of milliseconds since ``EPOCH_MS``, 10 bits of worker
id, 12 bits of sequence) let any app instance or worker mint ids without a
round trip, and sort by creation time, which keyset pagination relies on.
"""

from __future__ import annotations

import string
import threading
import time
from collections.abc import Callable
from enum import Enum

from chirp.config import MAX_WORKER_ID
from chirp.errors import BadUserInput

#: 2024-01-01T00:00:00Z. 41 bits of milliseconds from here last until 2093.
EPOCH_MS = 1_704_067_200_000
WORKER_BITS = 10
SEQUENCE_BITS = 12
#: 4,096 ids per millisecond per worker; past that the generator waits.
SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1
#: If the clock stepped back further than this, waiting for it to catch up
#: would stall writes noticeably; the generator then borrows the next
#: millisecond instead (ids stay unique and increasing either way).
MAX_BACKWARD_WAIT_MS = 50


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Snowflake:
    """Thread-safe id generator that never goes backwards on clock skew."""

    def __init__(self, worker_id: int, *, clock: Callable[[], int] = _now_ms) -> None:
        if not 0 <= worker_id <= MAX_WORKER_ID:
            raise ValueError(f"worker_id must be within 0..{MAX_WORKER_ID}")
        self._worker_id = worker_id
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ms = 0
        self._sequence = 0

    def next_id(self) -> int:
        with self._lock:
            now = self._clock()
            if now > self._last_ms:
                self._last_ms, self._sequence = now, 0
            else:
                # Same millisecond, or the clock stepped back: keep the last
                # timestamp so ids never decrease, and use the next sequence.
                self._sequence = (self._sequence + 1) & SEQUENCE_MASK
                if self._sequence == 0:
                    self._last_ms = self._wait_past(self._last_ms)
            return (
                (self._last_ms - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)
                | self._worker_id << SEQUENCE_BITS
                | self._sequence
            )

    def _wait_past(self, last_ms: int) -> int:
        """Sequence exhausted: wait for the next millisecond (bounded, see above)."""
        while (now := self._clock()) <= last_ms:
            if last_ms - now > MAX_BACKWARD_WAIT_MS:
                return last_ms + 1
            time.sleep(0)
        return now


def timestamp_ms(snowflake_id: int) -> int:
    """The creation time embedded in a Snowflake id."""
    return (snowflake_id >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS


BASE62 = string.digits + string.ascii_letters
_BASE62_INDEX = {c: i for i, c in enumerate(BASE62)}


def base62_encode(number: int) -> str:
    if number < 0:
        raise ValueError("base62 encodes non-negative integers")
    digits = []
    while True:
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
        if number == 0:
            return "".join(reversed(digits))


def base62_decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + _BASE62_INDEX[char]
    return number


class NodeKind(Enum):
    """Types reachable through ``node(id)``; the value prefixes their global id."""

    USER = "U"
    TWEET = "T"
    NOTIFICATION = "N"


#: 63-bit ids are at most 11 base62 digits; anything longer is not an id.
_MAX_ID_DIGITS = 11


def to_global_id(kind: NodeKind, number: int) -> str:
    """Opaque, compact and URL-safe: ``U_4fR9x...``. Clients must not parse it."""
    return f"{kind.value}_{base62_encode(number)}"


def from_global_id(
    global_id: str, *, expect: NodeKind | None = None, field: str | None = None
) -> tuple[NodeKind, int]:
    """Decode a global id, or raise ``BAD_USER_INPUT`` (naming ``field``) when it is not
    one of ours, or not of the ``expect``-ed kind."""
    prefix, _, digits = global_id.partition("_")
    try:
        kind = NodeKind(prefix)
        if not digits or len(digits) > _MAX_ID_DIGITS:
            raise ValueError
        number = base62_decode(digits)
    except (ValueError, KeyError):
        raise BadUserInput(f"{global_id!r} is not a valid id.", field=field) from None
    if number >= 1 << 63 or (expect is not None and kind is not expect):
        kind_name = (expect or kind).name.lower()
        raise BadUserInput(f"{global_id!r} is not a valid {kind_name} id.", field=field)
    return kind, number
