"""A randomized model test of home feeds against a brute-force answer.

Random posts, retweets, undone retweets, deletes, follows, unfollows and
reads run through the services; the feed handlers get each resulting event,
some at once and some late and out of order (as several workers would
deliver them). Once every event is delivered, each user's paged-through
home feed must equal what Postgres and the graph say it is.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chirp.graph.follows import FollowGraph
from chirp.persistence import timelines
from chirp.persistence import tweets as tweet_rows
from chirp.persistence.timelines import timeline_key
from chirp.persistence.tweets import TweetRecord
from chirp.runtime import Runtime
from chirp.services import feeds, follows
from chirp.services import tweets as tweet_service
from tests.support import create_users

USERS = 15
#: Low enough that random follows and unfollows move authors across it.
THRESHOLD = 4
STEPS = 200
#: Share of events delivered late, after later events (as by several workers).
LATE_SHARE = 0.3

Event = Callable[[], Awaitable[None]]


# ------------------------------------------- operations and the oracle
# (tests/test_feeds.py uses them too)


def with_threshold(rt: Runtime, celebrity_followers: int) -> Runtime:
    """The runtime with a lowered celebrity threshold."""
    settings = rt.settings.model_copy(update={"celebrity_followers": celebrity_followers})
    return dataclasses.replace(rt, settings=settings)


async def post(rt: Runtime, author_id: int, text: str = "hello", **kw: Any) -> TweetRecord:
    """Post, then deliver the event as the worker would."""
    tweet = await tweet_service.post_tweet(rt, author_id=author_id, text=text)
    await feeds.on_tweet_added(rt, tweet_id=tweet.id, author_id=author_id, **kw)
    return tweet


async def retweet(rt: Runtime, user_id: int, tweet_id: int, *, deliver: bool = True) -> int:
    """Retweet; deliver the retweet row's event; return the row's id."""
    await tweet_service.retweet(rt, user_id=user_id, tweet_id=tweet_id)
    row_id = await rt.db.fetchval(
        "SELECT id FROM tweets WHERE author_id = $1 AND retweet_of_id = $2", user_id, tweet_id
    )
    if deliver:
        await feeds.on_tweet_added(rt, tweet_id=row_id, author_id=user_id)
    return row_id


async def delete(rt: Runtime, tweet: TweetRecord, *, deliver: bool = True) -> list[tuple[int, int]]:
    """Delete a tweet; return (and deliver) the (id, author) pairs that went."""
    retweets = await rt.db.fetch(
        "SELECT id, author_id FROM tweets WHERE retweet_of_id = $1", tweet.id
    )
    await tweet_service.delete_tweet(rt, tweet_id=tweet.id, actor_id=tweet.author_id)
    gone = [(tweet.id, tweet.author_id), *((r["id"], r["author_id"]) for r in retweets)]
    if deliver:
        await feeds.on_tweets_removed(rt, tweets=gone)
    return gone


async def follow(rt: Runtime, follower_id: int, followee_id: int, *, deliver: bool = True) -> None:
    await follows.follow(rt, follower_id=follower_id, followee_id=followee_id)
    if deliver:
        await feeds.on_follow(rt, follower_id=follower_id, followee_id=followee_id)


async def unfollow(
    rt: Runtime, follower_id: int, followee_id: int, *, deliver: bool = True
) -> None:
    await follows.unfollow(rt, follower_id=follower_id, followee_id=followee_id)
    if deliver:
        await feeds.on_unfollow(rt, follower_id=follower_id, followee_id=followee_id)


async def feed_ids(rt: Runtime, user_id: int, *, page_size: int = 7) -> list[int]:
    """The whole home feed, paged through."""
    ids: list[int] = []
    after = None
    while True:
        page = await feeds.home_feed(rt, user_id=user_id, first=page_size, after=after)
        ids += [edge.node.id for edge in page.edges]
        if not page.page_info.has_next_page:
            return ids
        after = page.page_info.end_cursor


async def expected_ids(rt: Runtime, user_id: int) -> list[int]:
    """The brute-force feed: every row by the user or by whom the graph says
    they follow, newest first."""
    followed = await FollowGraph(rt.graph).following_ids(user_id=user_id)
    rows = await rt.db.fetch(
        "SELECT id FROM tweets WHERE author_id = ANY($1::bigint[]) ORDER BY id DESC",
        [user_id, *followed],
    )
    return [row["id"] for row in rows]


async def peek(rt: Runtime, user_id: int) -> list[int] | None:
    """Every id the user's timeline holds, newest first (no TTL refresh, no
    markers); None when the timeline does not exist."""
    members = await rt.redis.zrange(timelines.timeline_key(user_id), 0, -1)
    if not members:
        return None
    return sorted((int(m.split(":")[0]) for m in members if m[0].isdigit()), reverse=True)


async def ids_of(rt: Runtime, *handles: str) -> list[int]:
    return [user.id for user in await create_users(rt, list(handles))]


async def _drain(rng: random.Random, late: list[Event]) -> None:
    rng.shuffle(late)
    while late:
        await late.pop()()


@pytest.mark.parametrize(
    ("seed", "flush_at"),
    [(1, None), (2, None), (3, STEPS // 2), (4, None), (5, None), (6, STEPS // 3)],
)
async def test_feeds_match_brute_force(clean: Runtime, seed: int, flush_at: int | None) -> None:
    rng = random.Random(seed)
    rt = with_threshold(clean, THRESHOLD)
    users = await ids_of(rt, *(f"user{i}" for i in range(USERS)))
    stars = users[:2]  # start above the threshold; may fall below it later
    for star in stars:  # right at the threshold: one unfollow takes them below
        for fan in rng.sample(users[2:], THRESHOLD):
            await follow(rt, fan, star)
    for user in rng.sample(users, 5):  # some timelines are live from the start
        await feed_ids(rt, user)

    rows: list[tuple[int, int]] = []  # (tweet id, author) of every row ever made
    late: list[Event] = []

    async def emit(handler: Callable[..., Awaitable[None]], **event: Any) -> None:
        if rng.random() < LATE_SHARE:
            late.append(functools.partial(handler, rt, **event))
        else:
            await handler(rt, **event)

    for step in range(STEPS):
        if step == flush_at:
            await rt.redis.flushall()
        op = rng.choices(
            ["post", "retweet", "undo", "delete", "follow", "unfollow", "read", "expire", "check"],
            weights=[30, 10, 4, 8, 18, 14, 8, 4, 4],
        )[0]
        user = rng.choice(stars if op == "post" and rng.random() < 0.3 else users)
        if op == "post":
            tweet = await tweet_service.post_tweet(rt, author_id=user, text=f"step {step}")
            await emit(feeds.on_tweet_added, tweet_id=tweet.id, author_id=user)
            rows.append((tweet.id, user))
        elif op == "retweet" and rows:
            target = await _original(rt, rng.choice(rows)[0])
            if target is not None:
                row_id = await retweet(rt, user, target, deliver=False)
                await emit(feeds.on_tweet_added, tweet_id=row_id, author_id=user)
                rows.append((row_id, user))
        elif op == "undo":
            mine = await rt.db.fetch(
                "SELECT id, retweet_of_id FROM tweets WHERE author_id = $1 "
                "AND retweet_of_id IS NOT NULL",
                user,
            )
            if mine:
                row = rng.choice(mine)
                await tweet_service.undo_retweet(rt, user_id=user, tweet_id=row["retweet_of_id"])
                await emit(feeds.on_tweets_removed, tweets=[(row["id"], user)])
        elif op == "delete":
            alive = await rt.db.fetch("SELECT id FROM tweets WHERE author_id = $1", user)
            if alive:
                tweet = await tweet_rows.tweet_by_id(rt.db, rng.choice(alive)["id"])
                assert tweet is not None
                await emit(feeds.on_tweets_removed, tweets=await delete(rt, tweet, deliver=False))
        elif op in ("follow", "unfollow"):
            # Mostly about the stars, and unfollows mostly of someone followed,
            # so that authors keep crossing the threshold both ways.
            if op == "unfollow" and rng.random() < 0.8:
                pool = await FollowGraph(rt.graph).following_ids(user_id=user)
            else:
                pool = stars if rng.random() < 0.5 else users
            other = rng.choice([u for u in pool if u != user] or [u for u in users if u != user])
            change = follow if op == "follow" else unfollow
            await change(rt, user, other, deliver=False)
            handler = feeds.on_follow if op == "follow" else feeds.on_unfollow
            await emit(handler, follower_id=user, followee_id=other)
        elif op == "read":
            await feeds.home_feed(rt, user_id=user, first=rng.choice([1, 5, 20]), after=None)
        elif op == "expire":  # unread for a week: the timeline is gone
            await rt.redis.delete(*(timeline_key(u) for u in rng.sample(users, 3)))
        elif op == "check":  # the workers caught up: every feed must be right
            await _check(rt, rng, rng.sample(users, len(users)), late)
    await _check(rt, rng, users, late)


async def _check(rt: Runtime, rng: random.Random, users: list[int], late: list[Event]) -> None:
    """Deliver the late events, then compare these users' feeds with brute
    force; and no timeline holds what is not in its feed (reads skip deleted
    tweets, so only this shows one left behind)."""
    await _drain(rng, late)
    for user in users:
        expected = await expected_ids(rt, user)
        assert set(await peek(rt, user) or []) <= set(expected), f"user {user}"
        assert await feed_ids(rt, user, page_size=rng.choice([3, 10, 100])) == expected, user


async def _original(rt: Runtime, tweet_id: int) -> int | None:
    """The tweet a row shares, or the row itself; another if it is gone."""
    row = await rt.db.fetchrow("SELECT id, retweet_of_id FROM tweets WHERE id = $1", tweet_id)
    if row is None:  # deleted: retweet something that exists
        return await rt.db.fetchval("SELECT id FROM tweets WHERE retweet_of_id IS NULL LIMIT 1")
    return row["retweet_of_id"] or row["id"]
