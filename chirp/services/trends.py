"""Trending hashtags: time-decayed uses per window, one per author per window.

Scoring (after Mastodon's and Twitter's trends): every window (HOUR, DAY)
has a half-life ``h`` (``CHIRP_TRENDS_*_HALF_LIFE_SECONDS``) and a *length*
equal to it. A tag's score at time ``t`` is the sum over its counted uses of
``2^(-(t - used_at) / h)``: a use is worth 1 when fresh, 1/2 one half-life
later, and so on, exactly (stored against an epoch in Redis, see
:mod:`chirp.persistence.trends`). ``used_at`` is the tweet's creation time,
read from its Snowflake id, so late or replayed events score as if on time.

* One use per author per tag per window: an author's use of a tag counts
  only if that author has no counted use of the tag less than one window
  length before or after it. Repeating a tag all day counts once per hour in
  HOUR and once per day in DAY, so one account cannot trend a tag alone.
* ``tweetCount`` is the number of counted uses in the last window length,
  i.e. about how many accounts used the tag in the last hour (or day).
* Deleting a tweet withdraws its counted uses (its repeats never counted,
  and do not step in). A use older than the horizon (when one use has
  decayed to noise) is no longer tracked; deleting it changes nothing.
* Tags whose score decayed below ``NOISE_SCORE`` are pruned.

The handlers are idempotent (redelivered events change nothing) and safe with
concurrent workers: each use is one Lua script per window, and a delete
handled before the add it cancels leaves a mark that makes the add a no-op.

Losing Redis loses nothing: when a window's keys are gone, the next write or
read rebuilds it from Postgres (``tweet_hashtags`` of the last horizon,
replayed in id order through the same script), once, behind a lock. Until
the rebuild finishes, ``trends`` answers from what is rebuilt so far.

For ``Subscription.trends``: after every change of scores the worker
publishes ``changed`` on :func:`channel` (``chirp:trends:hour``/``day``); a
subscriber recomputes :func:`top` at most once a second per window.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from chirp.ids import EPOCH_MS, SEQUENCE_BITS, WORKER_BITS, timestamp_ms
from chirp.pagination import check_first
from chirp.persistence import hashtags
from chirp.persistence import trends as store
from chirp.persistence.trends import Use, WindowSpec
from chirp.runtime import Runtime

#: A tag scoring below a twentieth of one fresh use is noise: pruned, never
#: listed. One lone use gets there after log2(20) = 4.3 half-lives.
NOISE_SCORE: Final = 0.05
#: The contract's default for ``trends(first:)``.
DEFAULT_TRENDS: Final = 10
#: Tweets read from Postgres per query while rebuilding a window.
REBUILD_BATCH: Final = 1_000
#: How long a rebuild may hold its lock: a replay of a DAY window's horizon
#: takes seconds; past this another process may replay too (harmless, replays
#: are idempotent, just wasted work).
REBUILD_LOCK_MS: Final = 60_000
#: How long a writer waits for another process's rebuild to create the window.
REBUILD_WAIT_SECONDS: Final = 5.0
REBUILD_POLL_SECONDS: Final = 0.01


class TrendWindow(Enum):
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class TrendRecord:
    hashtag: str
    score: float
    tweet_count: int


class WindowUnavailable(Exception):
    """The window could not be rebuilt in time; the event is retried."""


def channel(window: TrendWindow) -> str:
    """The pub/sub channel that says the window's scores changed."""
    return store.channel_name(window.value)


def window_spec_for(window: TrendWindow, *, half_life: float) -> WindowSpec:
    return WindowSpec(
        name=window.value,
        half_life=half_life,
        length=half_life,
        horizon=half_life * math.log2(1 / NOISE_SCORE),
        noise=NOISE_SCORE,
    )


def window_spec(rt: Runtime, window: TrendWindow) -> WindowSpec:
    settings = rt.settings
    half_life = (
        settings.trends_hour_half_life_seconds
        if window is TrendWindow.HOUR
        else settings.trends_day_half_life_seconds
    )
    return window_spec_for(window, half_life=half_life)


def used_at(tweet_id: int) -> float:
    """When a tweet was posted (seconds), from its Snowflake id."""
    return timestamp_ms(tweet_id) / 1000


def first_id_at(seconds: float) -> int:
    """The lowest Snowflake id minted at or after ``seconds``."""
    return max(0, int(seconds * 1000) - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)


def _specs(rt: Runtime) -> list[WindowSpec]:
    return [window_spec(rt, window) for window in TrendWindow]


# ---------------------------------------------------------------- handlers


async def on_tweet_added(
    rt: Runtime,
    *,
    tweet_id: int,
    author_id: int,
    hashtags: Sequence[str],
    now: float | None = None,
) -> None:
    """Count the tweet's hashtags in every window (retweets carry none)."""
    if hashtags:
        use = Use(tweet_id, author_id, used_at(tweet_id), tuple(hashtags))
        await _apply(rt, store.add_uses, [use], now)


async def on_tweets_removed(
    rt: Runtime,
    *,
    tagged: Sequence[tuple[int, int, Sequence[str]]],
    now: float | None = None,
) -> None:
    """``(tweet id, author id, hashtags)`` of deleted tweets: withdraw their uses."""
    uses = [Use(t, a, used_at(t), tuple(tags)) for t, a, tags in tagged if tags]
    if uses:
        await _apply(rt, store.remove_uses, uses, now)


async def _apply(rt: Runtime, op: store.Apply, uses: list[Use], now: float | None) -> None:
    now = time.time() if now is None else now
    specs = _specs(rt)
    result = await op(rt.redis, specs=specs, uses=uses, now=now)
    absent = [spec for spec in specs if result[spec.name] is None]
    for spec in absent:
        await _ensure_window(rt, spec, now=now, wait=True)
    if absent:
        result = await op(rt.redis, specs=absent, uses=uses, now=now)
        if any(result[spec.name] is None for spec in absent):
            raise WindowUnavailable(", ".join(spec.name for spec in absent))


# ------------------------------------------------------------------- reads


async def top(
    rt: Runtime, *, window: TrendWindow, first: int | None, now: float | None = None
) -> list[TrendRecord]:
    """The ``first`` trending tags of the window, highest score first."""
    size = DEFAULT_TRENDS if first is None else check_first(first)
    now = time.time() if now is None else now
    spec = window_spec(rt, window)
    read = await store.top(rt.redis, spec=spec, now=now, first=size)
    if read.state != "live":
        # Absent: rebuild now (single-flight; others wait). Building: take
        # over only if the builder died (its lock is gone).
        await _ensure_window(rt, spec, now=now, wait=read.state == "absent")
        read = await store.top(rt.redis, spec=spec, now=now, first=size)
    return [TrendRecord(row.tag, row.score, row.tweet_count) for row in read.rows[:size]]


# ----------------------------------------------------------------- rebuild


async def _ensure_window(rt: Runtime, spec: WindowSpec, *, now: float, wait: bool) -> None:
    """Rebuild the window from Postgres if this process wins the lock;
    otherwise (when ``wait``) wait until the winner has created it."""
    token = secrets.token_hex(8)
    if await store.try_lock(rt.redis, spec=spec, token=token, ttl_ms=REBUILD_LOCK_MS):
        try:
            await rebuild(rt, spec=spec, now=now)
        finally:
            await store.unlock(rt.redis, spec=spec, token=token)
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REBUILD_WAIT_SECONDS
    while wait and loop.time() < deadline:
        if await store.exists(rt.redis, spec=spec):
            return
        await asyncio.sleep(REBUILD_POLL_SECONDS)


async def rebuild(rt: Runtime, *, spec: WindowSpec, now: float) -> None:
    """Replay the uses of the last horizon from Postgres, oldest first.

    The window exists (empty) before Postgres is read, so the worker's writes
    meanwhile apply, and the replay, idempotent like them, merges in: a use
    both replayed and delivered counts once, a delete handled before the
    replay reaches its tweet leaves a mark that keeps it out. Reads from the
    primary: the events that trigger a rebuild follow their commits.
    """
    await store.begin_rebuild(rt.redis, spec=spec, now=now)
    after = first_id_at(now - spec.horizon) - 1
    while True:
        batch = await hashtags.tagged_tweets_after(rt.db, after_id=after, limit=REBUILD_BATCH)
        uses = [Use(t.tweet_id, t.author_id, used_at(t.tweet_id), t.tags) for t in batch]
        await store.add_uses(rt.redis, specs=[spec], uses=uses, now=now)
        if len(batch) < REBUILD_BATCH:
            break
        after = batch[-1].tweet_id
    await store.finish_rebuild(rt.redis, spec=spec)
