"""Pages of a home feed from candidate ids, and the candidates the record gives.

A home-feed page is filled the same way whatever supplies its ids: the Redis
timeline merged with followed celebrities (services/feeds.py), or, while
Redis is unreachable, Postgres and the graph directly
(:func:`record_candidates`). Both are keyset-paged on tweet id, so cursors
stay valid across the switch in either direction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from chirp.graph.follows import FollowGraph
from chirp.pagination import Edge, Page, encode_cursor
from chirp.persistence import tweets as tweet_rows
from chirp.persistence.tweets import TweetRecord
from chirp.runtime import Runtime

#: Ids fetched beyond a page, so that tweets deleted before the worker took
#: them out of the timeline (reads skip them) still leave the page full.
PAGE_SLACK: Final = 10
#: Times a read fetches more ids when deleted tweets still ate its slack;
#: after that the page is returned short (with ``hasNextPage``).
MAX_FILL_ROUNDS: Final = 3

#: Hydrates tweet ids in order (None for a deleted tweet); the resolver
#: passes the request's ``TweetByIdLoader.load_many``.
LoadTweets = Callable[[Sequence[int]], Awaitable[Sequence[TweetRecord | None]]]
#: Up to ``limit`` feed ids below a bound (exclusive; None: from the newest),
#: newest first, and whether no more exist.
Candidates = Callable[[int | None, int], Awaitable[tuple[list[int], bool]]]


async def fill_page(
    size: int, before: int | None, load: LoadTweets, candidates: Candidates
) -> Page[TweetRecord]:
    """A page of ``size`` live tweets below ``before`` from ``candidates``,
    fetching again (at most ``MAX_FILL_ROUNDS`` times) when deleted tweets
    ate the slack."""
    limit = size + PAGE_SLACK + 1  # one more than needed: is there a next page?
    found: list[TweetRecord] = []
    exhausted = False
    for _ in range(MAX_FILL_ROUNDS):
        ids, exhausted = await candidates(before, limit)
        found += [tweet for tweet in await load(ids) if tweet is not None]
        if len(found) > size or exhausted:
            break
        before = ids[-1]
    edges = [Edge(encode_cursor(tweet.id), tweet) for tweet in found[:size]]
    return Page.of(edges, has_next_page=len(found) > size or not exhausted)


def direct_loader(rt: Runtime) -> LoadTweets:
    """Hydration outside a request (workers, tests): one query per call."""

    async def load(ids: Sequence[int]) -> list[TweetRecord | None]:
        found = {t.id: t for t in await tweet_rows.tweets_by_ids(rt.db.read, ids)}
        return [found.get(i) for i in ids]

    return load


def record_candidates(rt: Runtime, *, user_id: int) -> Candidates:
    """Feed ids straight from the record, for when Redis is unreachable.

    The rebuild's merge (the user and everyone they follow, celebrities
    included: nothing is pushed here), limited to the page: one graph call
    per request and one query per fill round, each bounded by the page size.
    From the primary, so a user sees what they just posted. Unlike a timeline
    it is not cut at ``MAX_ITEMS`` entries: it pages as deep as the record.
    """
    authors: list[int] = []

    async def candidates(before: int | None, limit: int) -> tuple[list[int], bool]:
        if not authors:
            following = await FollowGraph(rt.graph).following_ids(user_id=user_id)
            authors.extend([user_id, *following])
        entries = await tweet_rows.recent_feed_entries(
            rt.db, author_ids=authors, before_id=before, after_id=None, limit=limit
        )
        return [tweet_id for tweet_id, _ in entries], len(entries) < limit

    return candidates
