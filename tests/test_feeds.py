"""Home feeds: fan-out, celebrities merged at read, rebuilds, deletes, paging.

The feed handlers are called directly where the worker would deliver an
event. Everything runs on the real embedded Postgres, Redis and Ladybug.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from chirp.persistence import timelines, tweets
from chirp.runtime import Runtime
from chirp.services import feeds
from chirp.services import tweets as tweet_service
from tests.support import error_codes, gql, sign_up
from tests.test_feed_model import (
    delete,
    expected_ids,
    feed_ids,
    follow,
    ids_of,
    peek,
    post,
    retweet,
    unfollow,
    with_threshold,
)
from tests.test_indexes import Capture


@pytest.fixture
def rt(clean: Runtime) -> Runtime:
    """Empty Postgres, Redis and graph."""
    return clean


async def test_own_tweets_appear(rt: Runtime) -> None:
    [alice] = await ids_of(rt, "alice")
    page = await feeds.home_feed(rt, user_id=alice, first=10, after=None)
    assert page.edges == [] and not page.page_info.has_next_page
    assert await peek(rt, alice) == []  # live and empty: the sentinel keeps the key
    await rt.redis.flushall()
    first = await post(rt, alice, "before any read")  # no timeline: nothing pushed
    assert await peek(rt, alice) is None
    assert await feed_ids(rt, alice) == [first.id]  # rebuilt on read
    second = await post(rt, alice, "after the read")  # live now: pushed
    assert await peek(rt, alice) == [second.id, first.id]
    assert await feed_ids(rt, alice) == [second.id, first.id]


async def test_push_reaches_live_timelines_only(rt: Runtime) -> None:
    author, reader, idle = await ids_of(rt, "author", "reader", "idle")
    old = await post(rt, author, "old")
    await follow(rt, reader, author)
    await follow(rt, idle, author)
    assert await feed_ids(rt, reader) == [old.id]  # reader's timeline is live now
    new = await post(rt, author, "new")
    assert await peek(rt, reader) == [new.id, old.id]
    assert await peek(rt, idle) is None
    assert await feed_ids(rt, idle) == [new.id, old.id]  # rebuilt from Postgres + graph


async def test_celebrity_is_merged_at_read_not_pushed(clean: Runtime) -> None:
    rt = with_threshold(clean, 3)
    star, fan, *others = await ids_of(rt, "star", "fan", "other1", "other2")
    own = await post(rt, fan, "mine")
    await feed_ids(rt, fan)  # live before following: nothing marks the star yet
    await feed_ids(rt, star)  # a celebrity's own timeline still gets their tweets
    for user in (fan, *others):
        await follow(rt, user, star)
    shine = await post(rt, star, "to the masses")
    assert await peek(rt, fan) == [own.id]  # not pushed
    assert await peek(rt, star) == [shine.id]
    assert await feed_ids(rt, fan) == [shine.id, own.id]  # merged at read
    assert await feed_ids(rt, others[0]) == [shine.id]  # rebuilt without it, merged
    assert await peek(rt, others[0]) == []


async def test_fallen_celebrity_is_pushed_back(clean: Runtime) -> None:
    rt = with_threshold(clean, 3)
    star, a, b, c = await ids_of(rt, "star", "a", "b", "c")
    for user in (a, b, c):
        await follow(rt, user, star)
        await feed_ids(rt, user)
    shine = await post(rt, star, "while famous")
    await unfollow(rt, c, star)  # 2 followers: below the threshold again
    assert await peek(rt, a) == [shine.id]
    assert await timelines.celebrity_mark(rt.redis, author_id=star) is None
    assert await feed_ids(rt, a) == [shine.id]
    assert await feed_ids(rt, c) == []


async def test_follow_merges_and_unfollow_removes(rt: Runtime) -> None:
    reader, author = await ids_of(rt, "reader", "author")
    written = [await post(rt, author, f"t{i}") for i in range(3)]
    mine = await post(rt, reader, "mine")
    assert await feed_ids(rt, reader) == [mine.id]
    await follow(rt, reader, author)
    assert await peek(rt, reader) == [mine.id, *(t.id for t in reversed(written))]
    await unfollow(rt, reader, author)
    assert await peek(rt, reader) == [mine.id]
    assert await feed_ids(rt, reader) == [mine.id]


async def test_late_follow_events_after_a_reversal(rt: Runtime) -> None:
    reader, author = await ids_of(rt, "reader", "author")
    tweet = await post(rt, author, "hi")
    await feed_ids(rt, reader)
    # Follow then unfollow; both events arrive after both changes.
    await follow(rt, reader, author, deliver=False)
    await unfollow(rt, reader, author, deliver=False)
    await feeds.on_follow(rt, follower_id=reader, followee_id=author)
    await feeds.on_unfollow(rt, follower_id=reader, followee_id=author)
    assert await peek(rt, reader) in (None, [])
    assert await feed_ids(rt, reader) == []
    # Unfollow then follow again: the late unfollow must not take anything out.
    await follow(rt, reader, author)
    await unfollow(rt, reader, author, deliver=False)
    await follow(rt, reader, author, deliver=False)
    await feeds.on_unfollow(rt, follower_id=reader, followee_id=author)
    await feeds.on_follow(rt, follower_id=reader, followee_id=author)
    await feeds.on_follow(rt, follower_id=reader, followee_id=author)  # redelivered
    assert await peek(rt, reader) == [tweet.id]
    # The same, with the events in the other order.
    await unfollow(rt, reader, author, deliver=False)
    await follow(rt, reader, author, deliver=False)
    await feeds.on_follow(rt, follower_id=reader, followee_id=author)
    await feeds.on_unfollow(rt, follower_id=reader, followee_id=author)
    assert await peek(rt, reader) == [tweet.id]
    assert await feed_ids(rt, reader) == [tweet.id]


async def test_delete_never_shows_and_is_removed_everywhere(rt: Runtime) -> None:
    author, reader, sharer, sharer_fan = await ids_of(rt, "author", "reader", "sharer", "fan")
    await follow(rt, reader, author)
    await follow(rt, sharer_fan, sharer)
    for user in (author, reader, sharer, sharer_fan):
        await feed_ids(rt, user)
    keep = [await post(rt, author, f"keep {i}") for i in range(25)]
    doomed = await post(rt, author, "doomed")
    shared = await retweet(rt, sharer, doomed.id)
    assert doomed.id in await peek(rt, reader)
    assert shared in await peek(rt, sharer_fan)

    gone = await delete(rt, doomed, deliver=False)
    assert sorted(gone) == sorted([(doomed.id, author), (shared, sharer)])
    # Not removed from Redis yet, but never shown; the page stays full, even
    # when more were deleted than the extra ids a page reads.
    for tweet in keep[-12:]:
        await delete(rt, tweet, deliver=False)
    page = await feeds.home_feed(rt, user_id=reader, first=10, after=None)
    assert [e.node.id for e in page.edges] == [t.id for t in reversed(keep[:-12])][:10]
    assert page.page_info.has_next_page
    assert await feed_ids(rt, sharer_fan) == []

    await feeds.on_tweets_removed(rt, tweets=gone)
    await feeds.on_tweets_removed(rt, tweets=gone)  # redelivered: nothing changes
    for user in (author, reader, sharer, sharer_fan):
        held = await peek(rt, user) or []
        assert doomed.id not in held and shared not in held
        assert await feed_ids(rt, user) == await expected_ids(rt, user)


async def test_timeline_is_trimmed_and_the_feed_ends_there(rt: Runtime) -> None:
    reader, author, other = await ids_of(rt, "reader", "author", "other")
    old = await post(rt, other, "older than the kept window")
    await follow(rt, reader, author)
    await feed_ids(rt, reader)
    posted = [await post(rt, author, f"t{i}", max_items=10) for i in range(15)]
    newest = [t.id for t in reversed(posted)][:10]
    assert await peek(rt, reader) == newest
    assert await feed_ids(rt, reader, page_size=4) == newest
    # A follow merges only what is newer than the end of the kept window.
    fresh = await post(rt, other, "newer")
    await follow(rt, reader, other, deliver=False)
    await feeds.on_follow(rt, follower_id=reader, followee_id=other, max_items=10)
    held = await peek(rt, reader)
    assert held == [fresh.id, *newest[:9]] and old.id not in held
    assert await feed_ids(rt, reader, page_size=4) == held


async def test_rebuild_keeps_the_newest_max_items(rt: Runtime) -> None:
    alice, other = await ids_of(rt, "alice", "other")
    old = await post(rt, other, "older than the kept window")
    posted = [await post(rt, alice, f"t{i}") for i in range(12)]
    page = await feeds.home_feed(rt, user_id=alice, first=100, after=None, max_items=5)
    newest = [t.id for t in reversed(posted)][:5]
    assert [e.node.id for e in page.edges] == newest and not page.page_info.has_next_page
    # Room after a delete is not filled with what is older than the window.
    await delete(rt, posted[-1])
    await follow(rt, alice, other, deliver=False)
    await feeds.on_follow(rt, follower_id=alice, followee_id=other, max_items=5)
    assert old.id not in await peek(rt, alice)
    assert await feed_ids(rt, alice) == newest[1:]


async def test_reading_refreshes_the_ttl(rt: Runtime) -> None:
    [alice] = await ids_of(rt, "alice")
    await feed_ids(rt, alice)
    key = timelines.timeline_key(alice)
    ttl_ms = rt.settings.feed_ttl_days * 86_400_000
    assert ttl_ms * 0.99 < await rt.redis.pttl(key) <= ttl_ms
    await rt.redis.pexpire(key, 60_000)
    await feed_ids(rt, alice)
    assert ttl_ms * 0.99 < await rt.redis.pttl(key) <= ttl_ms


async def test_paging_is_stable_while_tweets_arrive(rt: Runtime) -> None:
    reader, author = await ids_of(rt, "reader", "author")
    await follow(rt, reader, author)
    await feed_ids(rt, reader)
    posted = [await post(rt, author, f"t{i}") for i in range(30)]
    expected = [t.id for t in reversed(posted)]
    first = await feeds.home_feed(rt, user_id=reader, first=10, after=None)
    for i in range(5):
        await post(rt, author, f"late {i}")
    after = first.page_info.end_cursor
    second = await feeds.home_feed(rt, user_id=reader, first=10, after=after)
    third = await feeds.home_feed(rt, user_id=reader, first=10, after=second.page_info.end_cursor)
    seen = [e.node.id for page in (first, second, third) for e in page.edges]
    assert seen == expected
    assert not third.page_info.has_next_page


async def test_concurrent_first_reads_rebuild_once(rt: Runtime) -> None:
    reader, *authors = await ids_of(rt, "reader", "a1", "a2", "a3")
    for author in authors:
        await follow(rt, reader, author)
        for i in range(5):
            await post(rt, author, f"{author} {i}")
    expected = await expected_ids(rt, reader)
    graph_before = rt.graph.round_trips
    pages = await asyncio.gather(
        *(feeds.home_feed(rt, user_id=reader, first=20, after=None) for _ in range(12))
    )
    # A rebuild is the only graph call of a read without celebrities.
    assert rt.graph.round_trips - graph_before == 1
    for page in pages:
        assert [e.node.id for e in page.edges] == expected[:20]


async def test_flushall_midway_next_read_is_complete(clean: Runtime) -> None:
    rt = with_threshold(clean, 3)
    users = await ids_of(rt, "u0", "u1", "u2", "u3", "u4")
    for follower in users[1:]:
        await follow(rt, follower, users[0])  # u0 is a celebrity (4 followers)
    await follow(rt, users[1], users[2])
    for user in users:
        await feed_ids(rt, user)
        await post(rt, user, f"from {user}")
    await rt.redis.flushall()
    for user in users:
        await post(rt, user, f"after the flush {user}")
    for user in users:
        assert await feed_ids(rt, user) == await expected_ids(rt, user)


async def finish(rt: Runtime, user_id: int, token: str, entries: list[tuple[int, int]]) -> bool:
    rest: dict[str, Any] = {"floor": 0, "max_items": 800, "ttl_ms": 60_000, "celebrity_ids": []}
    return await timelines.finish_build(
        rt.redis, user_id=user_id, token=token, entries=entries, **rest
    )


async def test_pushes_and_removals_during_a_rebuild_are_kept(clean: Runtime) -> None:
    """The rebuild window: the builder's snapshot is older than what the
    worker does meanwhile, and must neither lose a push nor revive a removal."""
    redis, user, gone = clean.redis, 42, 10_000
    assert await timelines.begin_build(redis, user_id=user, token="slow", ttl_ms=10_000)
    # The slow builder is taken over (past the readers' deadline).
    assert await timelines.begin_build(redis, user_id=user, token="t", ttl_ms=10_000)
    state = await timelines.read(redis, user_id=user, before_id=None, limit=10, ttl_ms=1000)
    assert state.state == "building"
    assert await timelines.push(redis, user_ids=[user], entries=[(300, 5)], max_items=800) == 1
    await timelines.remove(redis, user_ids=[user], entries=[(200, 5)], gone_ttl_ms=gone)
    await timelines.remove_author(redis, user_id=user, author_id=9, gone_ttl_ms=gone)  # unfollow
    snapshot = [(200, 5), (150, 9), (100, 6)]
    assert not await finish(clean, user, "slow", snapshot)  # the stale builder cannot store
    assert await finish(clean, user, "t", snapshot)
    assert await peek(clean, user) == [300, 100]
    assert not await timelines.begin_build(redis, user_id=user, token="x", ttl_ms=10_000)


async def test_ids_in_the_same_millisecond_keep_their_order(clean: Runtime) -> None:
    """Ids past 2**53 differ below a double's precision; members are exact."""
    base = 1 << 60
    assert await timelines.begin_build(clean.redis, user_id=7, token="t", ttl_ms=10_000)
    assert await finish(clean, 7, "t", [(base + i, i % 3) for i in range(1, 40)])
    read = await timelines.read(clean.redis, user_id=7, before_id=base + 20, limit=5, ttl_ms=60_000)
    assert read.tweet_ids == (base + 19, base + 18, base + 17, base + 16, base + 15)


async def test_scripts_lost_by_redis_are_loaded_again(rt: Runtime) -> None:
    reader, author = await ids_of(rt, "reader", "author")
    await follow(rt, reader, author)
    await feed_ids(rt, reader)
    await rt.redis.script_flush()  # as after a Redis restart
    tweet = await post(rt, author, "still delivered")
    await rt.redis.script_flush()
    assert await feed_ids(rt, reader) == [tweet.id]


# ---------------------------------------------------------------- the API

HOME = """
query Home($first: Int, $after: String) { homeFeed(first: $first, after: $after) {
  edges { cursor node { id text likeCount viewerHasLiked
    author { handle followerCount viewerFollows } mentions { handle } } }
  pageInfo { hasNextPage endCursor }
} }
"""


async def test_home_feed_needs_a_token_and_a_sane_first(client: httpx.AsyncClient) -> None:
    assert error_codes(await gql(client, HOME)) == ["UNAUTHENTICATED"]
    token, _ = await sign_up(client, "viewer")
    assert error_codes(await gql(client, HOME, {"first": 101}, token=token)) == ["BAD_USER_INPUT"]
    assert error_codes(await gql(client, HOME, {"after": "x"}, token=token)) == ["BAD_USER_INPUT"]
    empty = {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert (await gql(client, HOME, token=token))["data"]["homeFeed"] == empty


async def home_feed_costs(
    client: httpx.AsyncClient, rt: Runtime, token: str
) -> tuple[int, int, Counter[str]]:
    """(Postgres round trips, graph round trips, Redis commands) of homeFeed,
    asserted equal for pages of 5 and of 100."""
    costs = []
    for size in (5, 100):
        db, graph = rt.db.round_trips, rt.graph.round_trips
        commands = await redis_commands(rt)
        body = await gql(client, HOME, {"first": size}, token=token)
        assert "errors" not in body, body
        assert len(body["data"]["homeFeed"]["edges"]) == size
        redis = (await redis_commands(rt)) - commands
        redis -= Counter({"info": 1})  # the measurement itself
        costs.append((rt.db.round_trips - db, rt.graph.round_trips - graph, redis))
    assert costs[0] == costs[1], f"round trips grow with page size: {costs}"
    return costs[0]


#: Redis work of one homeFeed on a live timeline, in two round trips: the
#: token (GET), then one pipeline of the timeline read script (EVALSHA, which
#: runs ZRANGE, PEXPIRE and ZREVRANGEBYLEX inside) and the celebrity marks (HKEYS).
REDIS_PER_READ = Counter(get=1, evalsha=1, hkeys=1, zrange=1, pexpire=1, zrevrangebylex=1, hmget=1)


async def test_home_feed_round_trips_are_flat(client: httpx.AsyncClient, clean: Runtime) -> None:
    token, _ = await sign_up(client, "viewer")
    viewer = await clean.db.fetchval("SELECT id FROM users WHERE handle = 'viewer'")
    authors = await ids_of(clean, "a1", "a2", "a3", "a4")
    for author in authors:
        await follow(clean, viewer, author)
    await gql(client, HOME, token=token)  # rebuilt (empty) and live; warms the token
    for i in range(120):
        await post(clean, authors[i % 3], f"tweet {i} @a{i % 3 + 1} @viewer")
    # Postgres: tweets, authors, viewer flags, mentions. Graph: follow
    # counts, viewerFollows. Redis: see REDIS_PER_READ.
    assert await home_feed_costs(client, clean, token) == (4, 2, REDIS_PER_READ)
    # Tweets deleted but still in the timeline cost nothing more: a page
    # reads a few extra ids.
    newest = await clean.db.fetch("SELECT * FROM tweets ORDER BY id DESC LIMIT 3")
    for row in newest:
        await tweet_service.delete_tweet(clean, tweet_id=row["id"], actor_id=row["author_id"])
    assert await home_feed_costs(client, clean, token) == (4, 2, REDIS_PER_READ)

    # a4 is a celebrity (threshold 1 for its posts): not pushed, merged at
    # read. One more query for its tweets, one graph call for whether the
    # viewer follows the marked celebrities.
    for i in range(60):
        await post(with_threshold(clean, 1), authors[3], f"star {i} @viewer")
    body = await gql(client, HOME, {"first": 3}, token=token)
    texts = [e["node"]["text"] for e in body["data"]["homeFeed"]["edges"]]
    assert texts == [f"star {i} @viewer" for i in (59, 58, 57)]
    assert await home_feed_costs(client, clean, token) == (5, 3, REDIS_PER_READ)


async def redis_commands(rt: Runtime) -> Counter[str]:
    """Commands Redis has run so far, by name (those run by scripts included)."""
    stats = await rt.redis.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): s["calls"] for name, s in stats.items()})


@pytest.mark.parametrize("before", [None, 10**15])
async def test_feed_entries_use_the_author_index(runtime: Runtime, before: int | None) -> None:
    capture = Capture()
    await tweets.recent_feed_entries(
        capture, author_ids=[1, 2, 3], before_id=before, after_id=None, limit=31
    )
    [(query, args)] = capture.statements
    async with runtime.db.transaction() as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in await tx.fetch(f"EXPLAIN {query}", *args))
    assert "Seq Scan" not in plan and "tweets_author_id_idx" in plan, plan
