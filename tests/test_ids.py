"""Snowflake ids, base62 and global ids."""

from __future__ import annotations

import itertools
import threading

import pytest

from chirp.errors import BadUserInput
from chirp.ids import (
    EPOCH_MS,
    SEQUENCE_MASK,
    NodeKind,
    Snowflake,
    base62_decode,
    base62_encode,
    from_global_id,
    timestamp_ms,
    to_global_id,
)


class SteppingClock:
    """A clock the test moves by hand; counts how often it was read."""

    def __init__(self, start: int) -> None:
        self.now = start
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.now


def test_ids_strictly_increase_across_100k_calls() -> None:
    ids = Snowflake(1)
    values = [ids.next_id() for _ in range(100_000)]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_ids_from_threads_are_unique() -> None:
    ids = Snowflake(2)
    out: list[list[int]] = [[] for _ in range(4)]

    def mint(bucket: list[int]) -> None:
        bucket.extend(ids.next_id() for _ in range(20_000))

    threads = [threading.Thread(target=mint, args=(bucket,)) for bucket in out]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [value for bucket in out for value in bucket]
    assert len(set(flat)) == len(flat)


def test_layout_holds_time_worker_and_sequence() -> None:
    clock = SteppingClock(EPOCH_MS + 12_345)
    ids = Snowflake(7, clock=clock)
    first, second = ids.next_id(), ids.next_id()
    assert timestamp_ms(first) == EPOCH_MS + 12_345
    assert (first >> 12) & 0x3FF == 7
    assert first & SEQUENCE_MASK == 0
    assert second & SEQUENCE_MASK == 1


def test_clock_stepping_back_never_decreases_ids() -> None:
    clock = SteppingClock(EPOCH_MS + 10_000)
    ids = Snowflake(0, clock=clock)
    before = ids.next_id()
    clock.now -= 5_000  # NTP stepped the clock back five seconds
    after = [ids.next_id() for _ in range(10)]
    assert before < after[0] and after == sorted(after)
    assert timestamp_ms(after[-1]) == EPOCH_MS + 10_000


def test_sequence_overflow_waits_for_the_next_millisecond() -> None:
    clock = SteppingClock(EPOCH_MS + 1)
    ids = Snowflake(0, clock=clock)
    for _ in range(SEQUENCE_MASK + 1):
        ids.next_id()
    reads_before = clock.reads

    # Advance the clock from another thread once the generator is waiting.
    def tick() -> None:
        while clock.reads < reads_before + 50:
            pass
        clock.now += 1

    ticker = threading.Thread(target=tick)
    ticker.start()
    overflowed = ids.next_id()
    ticker.join()
    assert clock.reads >= reads_before + 50  # it polled the clock while waiting
    assert timestamp_ms(overflowed) == EPOCH_MS + 2
    assert overflowed & SEQUENCE_MASK == 0


def test_worker_id_is_range_checked() -> None:
    with pytest.raises(ValueError):
        Snowflake(1024)


def test_base62_round_trips() -> None:
    for number in [0, 1, 61, 62, 3844, 2**63 - 1]:
        assert base62_decode(base62_encode(number)) == number
    assert base62_encode(61) == "Z"


def test_global_ids_round_trip_and_name_their_kind() -> None:
    gid = to_global_id(NodeKind.USER, 123456789)
    assert from_global_id(gid) == (NodeKind.USER, 123456789)
    with pytest.raises(BadUserInput):
        from_global_id(gid, expect=NodeKind.TWEET)
