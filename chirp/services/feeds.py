"""Home feeds: hybrid fan-out into Redis timelines, and reading them.

The home feed of a user is their own tweets and retweets plus those of
everyone they follow, newest first. Following Twitter and Mastodon:

* Fan-out on write. A new tweet (or retweet row) goes into the author's own
  timeline and, when the author has fewer than ``celebrity_followers``
  followers, into every follower's *live* timeline. Timelines that do not
  exist are not created: their users are not reading.
* Celebrities are merged at read time. A bigger author is not pushed (one
  tweet would cost tens of thousands of writes); the author is *marked*
  instead, and each read merges in the marked authors the reader follows,
  straight from Postgres. When a marked author drops below the threshold,
  their recent tweets are merged back into their followers' timelines
  before the mark goes, so no tweet falls between the two paths.
* Rebuild on read. A user without a live timeline gets it rebuilt from the
  graph and Postgres, once (single-flight behind a Redis lock), and Redis can
  be flushed at any time without losing anything. A timeline built before
  Redis lost events (restored from an old snapshot) is stale and rebuilt the
  same way (epochs, see persistence/currency.py).
* Degraded reads. While Redis is unreachable a page is read from Postgres and
  the graph instead (the rebuild's merge, limited to the page), behind a
  circuit breaker so that a hung Redis is not waited for on every request
  (services/redis_guard.py). Writes never need Redis: their events wait in the
  outbox until the relay can deliver them.

The ``on_*`` handlers are called by the feed worker for each event. They are
idempotent (timelines are sets, removals of absent ids are no-ops), and
those about follows re-check the graph, because events may arrive late: a
follow and an unfollow in quick succession end with nothing merged.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

from chirp.graph.follows import MAX_ID_PAGE_SIZE, FollowGraph
from chirp.pagination import Page, check_first, decode_cursor
from chirp.persistence import currency, timelines
from chirp.persistence import tweets as tweet_rows
from chirp.persistence.redis import RedisUnavailable
from chirp.persistence.timelines import TimelineRead
from chirp.persistence.tweets import TweetRecord
from chirp.runtime import Runtime
from chirp.services import live
from chirp.services.feed_pages import LoadTweets, direct_loader, fill_page, record_candidates
from chirp.services.redis_guard import guarded

#: Entries kept per timeline (the contract; Twitter kept 800 as well). The
#: feed ends there: older entries are only on the authors' own pages.
MAX_ITEMS: Final = 800
#: Followers per graph call and per pipelined write batch in a fan-out walk:
#: the graph's largest id page, so an author just below the default threshold
#: of 10,000 is walked in two calls.
FANOUT_PAGE_SIZE: Final = MAX_ID_PAGE_SIZE
#: How long a rebuild may hold its lock. A rebuild is one graph call, one
#: query and one script (tens of ms); this bounds how long a crashed builder
#: keeps others waiting, and the half-built key expires with it.
REBUILD_LOCK_MS: Final = 10_000
#: How long a reader waits for another reader's rebuild before doing its own.
REBUILD_WAIT_SECONDS: Final = 3.0
#: Poll interval while waiting: a rebuild takes several of these.
REBUILD_POLL_SECONDS: Final = 0.01


def _ttl_ms(rt: Runtime) -> int:
    return int(rt.settings.feed_ttl_days * 86_400_000)


def _is_celebrity(rt: Runtime, follower_count: int) -> bool:
    return follower_count >= rt.settings.celebrity_followers


# ---------------------------------------------------------------- handlers


async def on_tweet_added(
    rt: Runtime, *, tweet_id: int, author_id: int, max_items: int = MAX_ITEMS
) -> None:
    """A tweet or retweet row entered the author's stream: push it out."""
    if await tweet_rows.tweet_by_id(rt.db, tweet_id) is None:
        return  # deleted before its fan-out (or a redelivery after the delete)
    entry = [(tweet_id, author_id)]
    await timelines.push(rt.redis, user_ids=[author_id], entries=entry, max_items=max_items)
    await live.tweet_entered_timelines(rt, user_ids=[author_id], tweet_id=tweet_id)
    graph = FollowGraph(rt.graph)
    if _is_celebrity(rt, await graph.follower_count(user_id=author_id)):
        await timelines.mark_celebrities(rt.redis, author_ids=[author_id])
        await live.celebrity_tweeted(rt, author_id=author_id, tweet_id=tweet_id)
        return
    async for followers in _follower_pages(graph, author_id):
        await timelines.push(rt.redis, user_ids=followers, entries=entry, max_items=max_items)
        await live.tweet_entered_timelines(rt, user_ids=followers, tweet_id=tweet_id)


async def on_tweets_removed(rt: Runtime, *, tweets: Sequence[tuple[int, int]]) -> None:
    """``(tweet_id, author_id)`` pairs were deleted: take them out of the
    author's timeline and their followers'. Celebrities' followers are walked
    too: the author may have been pushed before crossing the threshold. (Who
    unfollowed the author meanwhile lost the entry with the unfollow.)"""
    by_author: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for tweet_id, author_id in tweets:
        by_author[author_id].append((tweet_id, author_id))
    graph = FollowGraph(rt.graph)
    for author_id, entries in by_author.items():
        await _remove(rt, user_ids=[author_id], entries=entries)
        async for followers in _follower_pages(graph, author_id):
            await _remove(rt, user_ids=followers, entries=entries)


async def on_follow(
    rt: Runtime, *, follower_id: int, followee_id: int, max_items: int = MAX_ITEMS
) -> None:
    """Merge the followee's recent tweets into the follower's live timeline."""
    graph = FollowGraph(rt.graph)
    if await _follows(graph, follower_id, followee_id):
        await _merge_author(rt, graph, follower_id, followee_id, max_items)
        await live.follows_changed(
            rt, follower_id=follower_id, followee_id=followee_id, following=True
        )


async def on_unfollow(
    rt: Runtime, *, follower_id: int, followee_id: int, max_items: int = MAX_ITEMS
) -> None:
    """Take every entry of the followee out of the follower's live timeline,
    unless the follow holds again; then, if this unfollow took a marked
    celebrity below the threshold, push their tweets to their followers."""
    graph = FollowGraph(rt.graph)
    if not await _follows(graph, follower_id, followee_id):
        await live.follows_changed(
            rt, follower_id=follower_id, followee_id=followee_id, following=False
        )
        if await _remove_author(rt, follower_id, followee_id) and await _follows(
            graph, follower_id, followee_id
        ):  # followed again meanwhile, and its merge may have been undone
            await _merge_author(rt, graph, follower_id, followee_id, max_items)
    await _restore_fallen_celebrity(rt, graph, followee_id, max_items)


async def _merge_author(
    rt: Runtime, graph: FollowGraph, follower_id: int, followee_id: int, max_items: int
) -> None:
    if not await timelines.exists(rt.redis, user_id=follower_id):
        return  # rebuilt from the graph on the next read
    if _is_celebrity(rt, await graph.follower_count(user_id=followee_id)):
        await timelines.mark_celebrities(rt.redis, author_ids=[followee_id])
        return  # merged at read time
    entries = await _recent_entries(rt, followee_id, max_items)
    await timelines.push(rt.redis, user_ids=[follower_id], entries=entries, max_items=max_items)
    # An unfollow that came in while merging may have been handled already,
    # before the merge landed: undo it. (One after this check sees the merge.)
    if not await _follows(graph, follower_id, followee_id):
        await _remove_author(rt, follower_id, followee_id)


async def _restore_fallen_celebrity(
    rt: Runtime, graph: FollowGraph, author_id: int, max_items: int
) -> None:
    """A marked author below the threshold: push their recent tweets to every
    follower's live timeline, then unmark them (unless marked again meanwhile,
    which keeps them merged at read time)."""
    mark = await timelines.celebrity_mark(rt.redis, author_id=author_id)
    if mark is None or _is_celebrity(rt, await graph.follower_count(user_id=author_id)):
        return
    entries = await _recent_entries(rt, author_id, max_items)
    async for followers in _follower_pages(graph, author_id):
        await timelines.push(rt.redis, user_ids=followers, entries=entries, max_items=max_items)
    await timelines.unmark_celebrity(rt.redis, author_id=author_id, mark=mark)


async def _follows(graph: FollowGraph, follower_id: int, followee_id: int) -> bool:
    return bool(await graph.follows_pairs(follower_id=follower_id, followee_ids=[followee_id]))


async def _recent_entries(rt: Runtime, author_id: int, max_items: int) -> list[tuple[int, int]]:
    """The author's newest entries: all a timeline of ``max_items`` can hold.

    From the primary: the event that asks for them was written after their
    commit, and a lagging replica could miss the newest.
    """
    return await tweet_rows.recent_feed_entries(
        rt.db, author_ids=[author_id], before_id=None, after_id=None, limit=max_items
    )


async def _remove(
    rt: Runtime, *, user_ids: Sequence[int], entries: Sequence[tuple[int, int]]
) -> None:
    await timelines.remove(
        rt.redis, user_ids=user_ids, entries=entries, gone_ttl_ms=REBUILD_LOCK_MS
    )


async def _remove_author(rt: Runtime, user_id: int, author_id: int) -> int:
    return await timelines.remove_author(
        rt.redis, user_id=user_id, author_id=author_id, gone_ttl_ms=REBUILD_LOCK_MS
    )


async def _follower_pages(graph: FollowGraph, user_id: int) -> AsyncIterator[list[int]]:
    """The user's followers by ascending id, one page per graph call."""
    after: int | None = None
    while True:
        page = await graph.follower_ids_page(
            user_id=user_id, after_id=after, limit=FANOUT_PAGE_SIZE
        )
        if page:
            yield page
        if len(page) < FANOUT_PAGE_SIZE:
            return
        after = page[-1]


# ------------------------------------------------------------------- reads


async def home_feed(
    rt: Runtime,
    *,
    user_id: int,
    first: int | None,
    after: str | None,
    load_tweets: LoadTweets | None = None,
    max_items: int = MAX_ITEMS,
) -> Page[TweetRecord]:
    """A page of the user's home feed, newest first, keyset-paged on tweet id.

    Cursors hold the last tweet id, and each page reads strictly below it,
    so tweets arriving at the head never shift a page. Ids are hydrated by
    ``load_tweets`` (per-request DataLoader in the API); deleted tweets
    hydrate to nothing and are skipped, so they never show even before the
    worker takes them out.

    When Redis fails (or its breaker is open) the page comes from Postgres
    and the graph instead, with the same cursors, so a client paging through
    never notices but for latency.
    """
    size = check_first(first)
    cursor = decode_cursor(after, size=1)
    before = cursor[0] if cursor else None
    load = load_tweets or direct_loader(rt)
    try:
        return await fill_page(
            size,
            before,
            load,
            lambda below, limit: _candidates(rt, user_id, below, limit, max_items),
        )
    except RedisUnavailable:
        return await fill_page(size, before, load, record_candidates(rt, user_id=user_id))


async def _candidates(
    rt: Runtime, user_id: int, before: int | None, limit: int, max_items: int
) -> tuple[list[int], bool]:
    """Up to ``limit`` feed ids below ``before``, and whether no more exist:
    the stored timeline merged with the tweets of followed celebrities."""
    timeline = await _timeline(rt, user_id, before, limit, max_items)
    celebrity_ids: list[int] = []
    if marked := timeline.celebrity_ids - {user_id}:
        followed = await FollowGraph(rt.graph).follows_pairs(
            follower_id=user_id, followee_ids=sorted(marked)
        )
        entries = await tweet_rows.recent_feed_entries(
            rt.db.read,
            author_ids=sorted(followed),
            before_id=before,
            after_id=timeline.floor,
            limit=limit,
        )
        celebrity_ids = [tweet_id for tweet_id, _ in entries]
    merged = sorted({*timeline.tweet_ids, *celebrity_ids}, reverse=True)
    exhausted = len(timeline.tweet_ids) < limit and len(celebrity_ids) < limit
    return merged[:limit], exhausted and len(merged) <= limit


async def _timeline(
    rt: Runtime, user_id: int, before: int | None, limit: int, max_items: int
) -> TimelineRead:
    """A slice of the user's live timeline, rebuilding it first if needed.

    Single-flight: the reader that takes the lock rebuilds; the others poll
    until the timeline is live, and rebuild themselves past a deadline (the
    builder may have died). A rebuild that could not be stored (Redis
    flushed meanwhile) is served from memory. A Redis found behind the relay
    mark this process expects starts a new epoch first, which makes every
    timeline built before stale (persistence/currency.py). Each Redis call
    is bounded (:func:`guarded`).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REBUILD_WAIT_SECONDS
    slice_of = partial(timelines.read, user_id=user_id, before_id=before, limit=limit)
    while True:
        read = await guarded(rt.redis, partial(slice_of, rt.redis, ttl_ms=_ttl_ms(rt)))
        if (renew_to := await _behind(rt, read.relayed)) is not None:
            await guarded(rt.redis, partial(currency.renew, rt.redis, through=renew_to))
            continue
        if read.state == "live":
            return read
        token = secrets.token_hex(8)
        late = loop.time() >= deadline
        lock = partial(timelines.try_lock, user_id=user_id, token=token, ttl_ms=REBUILD_LOCK_MS)
        if late or await guarded(rt.redis, partial(lock, rt.redis)):
            try:
                built = await _rebuild(
                    rt, user_id=user_id, token=token, max_items=max_items, epoch=read.epoch
                )
            finally:
                unlock = partial(timelines.unlock, rt.redis, user_id=user_id, token=token)
                await guarded(rt.redis, unlock)
            if built is None or (built.stored and not late):
                continue  # live now: read it with what was pushed meanwhile
            return built.slice(before=before, limit=limit, celebrity_ids=read.celebrity_ids)
        await asyncio.sleep(REBUILD_POLL_SECONDS)


async def _behind(rt: Runtime, relayed: int) -> int | None:
    """The mark to renew this Redis to if it lost events, given the mark a
    timeline read returned (persistence/currency.py). In doubt (first read,
    or Redis failed since), Postgres is read, and a mark below it is read
    again: a relay may have committed since the timeline read."""
    if not currency.watermark(rt.redis).verified:
        if relayed < await currency.verify(rt.db, rt.redis):
            relayed = await guarded(rt.redis, partial(currency.relayed, rt.redis))
    return currency.behind(rt.redis, relayed)


@dataclass(frozen=True, slots=True)
class _Built:
    """What a rebuild computed: newest first, down to ``floor``."""

    tweet_ids: tuple[int, ...]
    floor: int
    celebrity_ids: frozenset[int]
    stored: bool

    def slice(
        self, *, before: int | None, limit: int, celebrity_ids: frozenset[int]
    ) -> TimelineRead:
        below = [t for t in self.tweet_ids if before is None or t < before]
        return TimelineRead(
            state="live",
            floor=self.floor,
            tweet_ids=tuple(below[:limit]),
            celebrity_ids=celebrity_ids | self.celebrity_ids,
        )


async def _rebuild(
    rt: Runtime, *, user_id: int, token: str, max_items: int, epoch: str
) -> _Built | None:
    """Rebuild the timeline from the graph and Postgres in ``epoch``; None if
    it is live in that epoch.

    The key is marked as rebuilding *before* the graph and Postgres are read,
    so every push or removal from then on reaches it and nothing that happens
    during the rebuild is lost. Reads go to the primary for the same reason.
    """
    begin = partial(timelines.begin_build, user_id=user_id, token=token, epoch=epoch)
    if not await guarded(rt.redis, partial(begin, rt.redis, ttl_ms=REBUILD_LOCK_MS)):
        return None
    following = await FollowGraph(rt.graph).following_follower_counts(user_id=user_id)
    celebrities = frozenset(a for a, n in following.items() if _is_celebrity(rt, n))
    authors = [user_id, *(a for a in following if a not in celebrities)]
    entries = await tweet_rows.recent_feed_entries(
        rt.db, author_ids=authors, before_id=None, after_id=None, limit=max_items
    )
    ids = tuple(tweet_id for tweet_id, _ in entries)
    floor = ids[-1] - 1 if len(ids) >= max_items else 0
    stored = await guarded(
        rt.redis,
        partial(
            timelines.finish_build,
            rt.redis,
            user_id=user_id,
            token=token,
            entries=entries,
            floor=floor,
            max_items=max_items,
            ttl_ms=_ttl_ms(rt),
            celebrity_ids=sorted(celebrities),
        ),
    )
    return _Built(tweet_ids=ids, floor=floor, celebrity_ids=celebrities, stored=stored)
