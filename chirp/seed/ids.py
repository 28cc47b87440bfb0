"""Snowflake ids for rows created in the past.

``chirp.ids.Snowflake`` mints ids for *now*; a seed needs ids whose embedded
time is each row's ``created_at`` in the past, so that keyset pagination
(which orders by id) and ``createdAt`` agree, exactly as for live rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from chirp.config import MAX_WORKER_ID, SEED_WORKER_ID
from chirp.ids import EPOCH_MS, SEQUENCE_BITS, SEQUENCE_MASK, WORKER_BITS

#: 41 bits of milliseconds after ``EPOCH_MS``.
_MAX_OFFSET_MS: Final = (1 << (63 - WORKER_BITS - SEQUENCE_BITS)) - 1


def compose_id(*, timestamp_ms: int, worker_id: int, sequence: int) -> int:
    """The Snowflake id minted at ``timestamp_ms`` by ``worker_id`` with ``sequence``."""
    offset = timestamp_ms - EPOCH_MS
    if not 0 <= offset <= _MAX_OFFSET_MS:
        raise ValueError(f"timestamp {timestamp_ms} is outside the Snowflake epoch range")
    if not 0 <= worker_id <= MAX_WORKER_ID:
        raise ValueError(f"worker_id must be within 0..{MAX_WORKER_ID}")
    if not 0 <= sequence <= SEQUENCE_MASK:
        raise ValueError(f"sequence must be within 0..{SEQUENCE_MASK}")
    return offset << (WORKER_BITS + SEQUENCE_BITS) | worker_id << SEQUENCE_BITS | sequence


def ids_for_times(times_ms: Iterable[int], *, worker_id: int = SEED_WORKER_ID) -> list[int]:
    """Unique, strictly increasing ids for non-decreasing millisecond timestamps.

    Rows in the same millisecond take the next sequence numbers; past 4,096 in
    one millisecond the rest move to the next millisecond, as the live
    generator does. Read each row's ``created_at`` back from its id
    (``chirp.ids.timestamp_ms``) so the two always agree.
    """
    ids: list[int] = []
    last_ms, sequence = -1, 0
    for ms in times_ms:
        if ms > last_ms:
            last_ms, sequence = ms, 0
        else:
            sequence += 1
            if sequence > SEQUENCE_MASK:
                last_ms, sequence = last_ms + 1, 0
        ids.append(compose_id(timestamp_ms=last_ms, worker_id=worker_id, sequence=sequence))
    return ids
