"""The follow graph's rules, run on every engine (see conftest.py)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from chirp.graph.follows import (
    BULK_CHUNK_EDGES,
    MAX_PAGE_SIZE,
    FollowCounts,
    FollowEdge,
    FollowGraph,
    Suggestion,
)

#: A realistic Snowflake id: 63 bits, so INT64 must carry it unchanged.
BIG = (1 << 62) + 123_456_789


async def follow_all(graph: FollowGraph, edges: list[tuple[int, int, int]]) -> None:
    for follower_id, followee_id, since_ms in edges:
        await graph.follow(follower_id=follower_id, followee_id=followee_id, since_ms=since_ms)


async def all_pages(graph: FollowGraph, user_id: int, size: int) -> list[FollowEdge]:
    edges: list[FollowEdge] = []
    after = None
    while True:
        page = await graph.followers(user_id=user_id, first=size, after=after)
        edges += page
        if len(page) < size:
            return edges
        after = page[-1].cursor


async def test_follow_is_idempotent(graph: FollowGraph) -> None:
    assert await graph.follow(follower_id=BIG, followee_id=2, since_ms=1_000)
    assert not await graph.follow(follower_id=BIG, followee_id=2, since_ms=2_000)
    assert not await graph.follow(follower_id=BIG, followee_id=2, since_ms=1_000)
    # Concurrent repeats (double clicks, retries) still leave one edge, reported new once.
    results = await asyncio.gather(
        *(graph.follow(follower_id=3, followee_id=2, since_ms=500 + i) for i in range(8))
    )
    assert results.count(True) == 1
    counts = await graph.counts(user_ids=[BIG, 2, 3])
    assert counts == {
        BIG: FollowCounts(follower_count=0, following_count=1),
        2: FollowCounts(follower_count=2, following_count=0),
        3: FollowCounts(follower_count=0, following_count=1),
    }
    followers = await graph.followers(user_id=2, first=10)
    assert followers[0] == FollowEdge(user_id=BIG, since_ms=1_000)  # the first since is kept
    assert followers[1].user_id == 3 and 500 <= followers[1].since_ms < 508


async def test_follow_rejects_self_follow_and_negative_since(graph: FollowGraph) -> None:
    with pytest.raises(ValueError, match="themselves"):
        await graph.follow(follower_id=1, followee_id=1, since_ms=1)
    with pytest.raises(ValueError, match="since_ms"):
        await graph.follow(follower_id=1, followee_id=2, since_ms=-5)
    assert graph.driver.round_trips == 0


async def test_unfollow(graph: FollowGraph) -> None:
    await follow_all(graph, [(1, 2, 10), (3, 2, 20)])
    assert await graph.unfollow(follower_id=1, followee_id=2)
    assert not await graph.unfollow(follower_id=1, followee_id=2)
    assert not await graph.unfollow(follower_id=2, followee_id=1)  # direction matters
    assert not await graph.unfollow(follower_id=77, followee_id=78)  # unknown users
    assert await graph.follower_ids_page(user_id=2) == [3]
    assert (await graph.counts(user_ids=[1]))[1] == FollowCounts(0, 0)
    assert await graph.follow(follower_id=1, followee_id=2, since_ms=30)  # can follow again


async def test_pages_are_newest_first_with_keyset_cursors(graph: FollowGraph) -> None:
    # Ties on `since` are broken by id, descending.
    edges = [(10 + i, 1, since) for i, since in enumerate([5, 9, 9, 1, 7, 9, 3])]
    await follow_all(graph, edges)
    await follow_all(graph, [(1, 100 + i, since) for i, since in enumerate([4, 4, 8])])
    expected = sorted(
        (FollowEdge(user_id=a, since_ms=s) for a, _, s in edges),
        key=lambda e: (e.since_ms, e.user_id),
        reverse=True,
    )
    assert await all_pages(graph, 1, 3) == expected
    assert await graph.followers(user_id=1, first=MAX_PAGE_SIZE) == expected
    assert await graph.followers(user_id=1, first=0) == []
    following = await graph.following(user_id=1, first=2)
    assert following == [FollowEdge(102, 8), FollowEdge(101, 4)]
    rest = await graph.following(user_id=1, first=2, after=following[-1].cursor)
    assert rest == [FollowEdge(100, 4)]
    assert await graph.followers(user_id=999, first=5) == []
    with pytest.raises(ValueError):
        await graph.followers(user_id=1, first=MAX_PAGE_SIZE + 1)


async def test_paging_is_stable_when_follows_arrive_mid_way(graph: FollowGraph) -> None:
    await follow_all(graph, [(100 + i, 1, 1_000 + i) for i in range(10)])
    first_page = await graph.followers(user_id=1, first=4)
    # New followers arrive (newer) and one old edge is re-followed (no change).
    await follow_all(graph, [(200 + i, 1, 5_000 + i) for i in range(5)])
    await graph.follow(follower_id=100, followee_id=1, since_ms=9_999)
    seen = list(first_page)
    after = first_page[-1].cursor
    while page := await graph.followers(user_id=1, first=4, after=after):
        seen += page
        after = page[-1].cursor
    assert [e.user_id for e in seen] == [109 - i for i in range(10)]  # no repeats, no gaps


async def test_counts_in_one_call_with_unknown_users(graph: FollowGraph) -> None:
    await follow_all(graph, [(1, 2, 1), (3, 2, 1), (2, 1, 1), (4, 1, 1), (1, 4, 1)])
    await graph.ensure_users(user_ids=[5])  # known, but no edges
    graph.driver.round_trips = 0
    counts = await graph.counts(user_ids=[1, 2, 3, 5, 404, 2])
    assert graph.driver.round_trips == 1
    assert counts == {
        1: FollowCounts(follower_count=2, following_count=2),
        2: FollowCounts(follower_count=2, following_count=1),
        3: FollowCounts(follower_count=0, following_count=1),
        5: FollowCounts(follower_count=0, following_count=0),
        404: FollowCounts(follower_count=0, following_count=0),
    }
    assert await graph.counts(user_ids=[]) == {}
    assert await graph.follower_count(user_id=1) == 2
    assert await graph.follower_count(user_id=404) == 0


async def test_follows_pairs_and_followed_by(graph: FollowGraph) -> None:
    await follow_all(graph, [(1, 2, 1), (1, 3, 1), (4, 1, 1), (3, 1, 1), (5, 6, 1)])
    assert await graph.follows_pairs(follower_id=1, followee_ids=[2, 3, 4, 5, 404]) == {2, 3}
    assert await graph.followed_by(user_id=1, follower_ids=[2, 3, 4, 5, 404]) == {3, 4}
    assert await graph.follows_pairs(follower_id=404, followee_ids=[1]) == set()
    assert await graph.followed_by(user_id=1, follower_ids=[]) == set()


async def test_suggestions_rank_friends_of_friends(graph: FollowGraph) -> None:
    me, a, b, c = 1, 2, 3, 4
    await follow_all(
        graph,
        [
            (me, a, 1), (me, b, 2), (me, c, 3),
            (a, 30, 1), (a, 40, 1), (a, me, 1), (a, b, 1),  # `me` and b are excluded
            (b, 30, 1), (b, 40, 1), (b, 50, 1),
            (c, 30, 1), (c, 20, 1), (c, 60, 1),
            (30, 70, 1),  # two hops from a friend: not a suggestion
        ],
    )  # fmt: skip
    assert await graph.suggestions(user_id=me, first=10) == [
        Suggestion(user_id=30, mutual_count=3),
        Suggestion(user_id=40, mutual_count=2),
        Suggestion(user_id=20, mutual_count=1),  # ties broken by id
        Suggestion(user_id=50, mutual_count=1),
        Suggestion(user_id=60, mutual_count=1),
    ]
    assert [s.user_id for s in await graph.suggestions(user_id=me, first=2)] == [30, 40]
    await graph.follow(follower_id=me, followee_id=30, since_ms=4)
    # 30 is followed now (excluded), and what 30 follows becomes a suggestion.
    after_follow = await graph.suggestions(user_id=me, first=10)
    assert [s.user_id for s in after_follow] == [40, 20, 50, 60, 70]
    assert await graph.suggestions(user_id=404, first=5) == []


async def test_most_followed_is_the_fallback(graph: FollowGraph) -> None:
    await follow_all(
        graph,
        [(1, 9, 1), (2, 9, 1), (3, 9, 1), (1, 8, 1), (2, 8, 1), (1, 7, 1), (2, 7, 1), (3, 6, 1)],
    )
    await graph.ensure_users(user_ids=[42])  # nobody follows 42: never suggested
    assert await graph.suggestions(user_id=42, first=3) == []
    assert await graph.most_followed(first=10) == [9, 7, 8, 6]
    assert await graph.most_followed(first=2, exclude=[9, 42]) == [7, 8]
    assert await graph.most_followed(first=0) == []


async def test_follower_ids_page_walks_every_follower_once(graph: FollowGraph) -> None:
    followers = random.Random(7).sample(range(1, 10**6), 23)
    await graph.bulk_follow(edges=[(f, BIG, i) for i, f in enumerate(followers)])
    walked: list[int] = []
    after_id = None
    while page := await graph.follower_ids_page(user_id=BIG, after_id=after_id, limit=5):
        walked += page
        after_id = page[-1]
        if len(walked) == 10:  # an unfollow of an already-walked follower mid-walk
            await graph.unfollow(follower_id=walked[0], followee_id=BIG)
    assert walked == sorted(followers)
    assert await graph.following_ids(user_id=followers[0]) == [BIG]
    assert await graph.following_ids(user_id=404) == []


async def test_bulk_follow_20k_edges(graph: FollowGraph) -> None:
    rnd = random.Random(1)
    users = [BIG + i for i in range(2_000)]
    edges: list[tuple[int, int, int]] = []
    while len(edges) < 20_000:
        a, b = rnd.sample(users, 2)
        edges.append((a, b, rnd.randrange(1, 10**12)))
    edges += edges[:500]  # repeated pairs count once
    unique = {(a, b) for a, b, _ in edges}
    started = time.perf_counter()
    created = await graph.bulk_follow(edges=edges)
    elapsed = time.perf_counter() - started
    print(f"bulk_follow: {len(edges)} edges in {elapsed:.2f} s on {type(graph.driver).__name__}")
    assert created == len(unique)
    assert elapsed < 20, "bulk load should take seconds, not minutes"
    chunks = -(-len(unique) // BULK_CHUNK_EDGES)
    assert graph.driver.round_trips == 2 * chunks
    sample = users[:50]
    counts = await graph.counts(user_ids=sample)
    for user in sample:
        assert counts[user].follower_count == sum(1 for _, b in unique if b == user)
        assert counts[user].following_count == sum(1 for a, _ in unique if a == user)
    a, b, since = edges[0]
    assert FollowEdge(a, since) in await graph.followers(user_id=b, first=MAX_PAGE_SIZE)
    assert await graph.bulk_follow(edges=edges[:1_000]) == 0  # reloading adds nothing


async def test_ensure_users_and_clear(graph: FollowGraph) -> None:
    await graph.ensure_users(user_ids=[1, 2, 2, 3])
    await graph.ensure_users(user_ids=[])
    await graph.follow(follower_id=1, followee_id=2, since_ms=1)
    assert (await graph.counts(user_ids=[3]))[3] == FollowCounts(0, 0)
    await graph.clear()
    assert await graph.most_followed(first=5) == []
    assert await graph.following_ids(user_id=1) == []


async def test_round_trips_one_per_method(graph: FollowGraph) -> None:
    await follow_all(graph, [(1, 2, 1), (2, 3, 1)])
    calls = {
        "follow": graph.follow(follower_id=1, followee_id=3, since_ms=2),
        "unfollow": graph.unfollow(follower_id=1, followee_id=3),
        "followers": graph.followers(user_id=2, first=5),
        "following": graph.following(user_id=1, first=5, after=(5, 5)),
        "counts": graph.counts(user_ids=[1, 2, 3, 4]),
        "follows_pairs": graph.follows_pairs(follower_id=1, followee_ids=[2, 3]),
        "followed_by": graph.followed_by(user_id=2, follower_ids=[1, 3]),
        "suggestions": graph.suggestions(user_id=1, first=5),
        "most_followed": graph.most_followed(first=5, exclude=[1]),
        "following_ids": graph.following_ids(user_id=1),
        "follower_ids_page": graph.follower_ids_page(user_id=2, after_id=None, limit=10),
        "follower_count": graph.follower_count(user_id=2),
        "ensure_users": graph.ensure_users(user_ids=[7, 8]),
        "clear": graph.clear(),
    }
    for name, call in calls.items():
        before = graph.driver.round_trips
        await call
        assert graph.driver.round_trips - before == 1, name
