"""Every list query is served by the index meant for it.

The repositories' own SQL is captured (not copied) and EXPLAINed with
sequential scans discouraged; the plan must name the expected indexes, so a
missing index (or one the query cannot use) fails the test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

import pytest

from chirp.persistence import hashtags, links, notifications, tokens, tweets, users
from chirp.persistence.postgres import Executor
from chirp.runtime import Runtime


class Capture(Executor):
    """Records the statements a repository function sends, answering nothing."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.statements.append((query, args))
        return []

    async def fetchrow(self, query: str, *args: Any) -> None:
        self.statements.append((query, args))

    async def fetchval(self, query: str, *args: Any) -> int:
        self.statements.append((query, args))
        return 0

    async def execute(self, query: str, *args: Any) -> str:
        self.statements.append((query, args))
        return "DELETE 0"  # a status like Postgres's, for callers that read the count

    async def executemany(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError


Query = Callable[[Executor], Awaitable[Any]]

#: Each list query, and the indexes its plan must use.
LIST_QUERIES: dict[str, tuple[Query, set[str]]] = {
    "user timeline": (
        lambda db: tweets.tweet_pages(db, by="author", keys=[1, 2], before_id=None, limit=21),
        {"tweets_author_id_idx"},
    ),
    "user timeline, next page": (
        lambda db: tweets.tweet_pages(db, by="author", keys=[1], before_id=10**12, limit=21),
        {"tweets_author_id_idx"},
    ),
    "replies": (
        lambda db: tweets.tweet_pages(db, by="replies", keys=[1], before_id=None, limit=21),
        {"tweets_reply_to_id_idx"},
    ),
    "tweets by id": (lambda db: tweets.tweets_by_ids(db, [1, 2]), {"tweets_pkey"}),
    "viewer flags": (
        lambda db: tweets.viewer_flags(db, viewer_id=1, tweet_ids=[1, 2]),
        {"likes_pkey", "tweets_one_retweet_key"},
    ),
    "mentions": (
        lambda db: tweets.mentions_by_tweet_ids(db, [1, 2]),
        {"tweet_mentions_pkey", "users_pkey"},
    ),
    "hashtag feed": (
        lambda db: tweets.hashtag_page(db, tag="tag", before_id=None, limit=21),
        {"tweet_hashtags_pkey", "tweets_pkey"},
    ),
    "hashtag feed, next page": (
        lambda db: tweets.hashtag_page(db, tag="tag", before_id=10**12, limit=21),
        {"tweet_hashtags_pkey", "tweets_pkey"},
    ),
    "tagged tweets for a trends rebuild": (
        lambda db: hashtags.tagged_tweets_after(db, after_id=10**12, limit=1000),
        {"tweet_hashtags_tweet_id_idx", "tweets_pkey"},
    ),
    "users by id": (lambda db: users.users_by_ids(db, [1, 2]), {"users_pkey"}),
    "user by handle": (
        lambda db: users.user_by_handle(db, "Alice"),
        {"users_handle_lower_key"},
    ),
    "mentioned handles": (
        lambda db: users.user_ids_by_handles(db, ["alice", "bob"]),
        {"users_handle_lower_key"},
    ),
    "tweet links": (
        lambda db: links.links_by_tweet_ids(db, [1, 2]),
        {"tweet_links_pkey", "short_links_pkey"},
    ),
    "links by code": (lambda db: links.links_by_codes(db, ["a", "b"]), {"short_links_pkey"}),
    "visit totals": (
        lambda db: links.visit_totals(db, codes=["a", "b"], batch_ids=["x"]),
        {"short_links_pkey", "visit_flushes_pkey"},
    ),
    "daily visits": (
        lambda db: links.daily_visits(
            db, codes=["a", "b"], since=date(2025, 1, 1), batch_ids=["x"]
        ),
        {"link_visits_pkey", "visit_flushes_pkey"},
    ),
    "notifications": (
        lambda db: notifications.page(db, recipient_id=1, before=None, limit=21),
        {"notifications_recipient_id_idx"},
    ),
    "notifications, next page": (
        lambda db: notifications.page(db, recipient_id=1, before=10**12, limit=21),
        {"notifications_recipient_id_idx"},
    ),
    "unread notifications": (
        lambda db: notifications.unread_count(db, recipient_id=1),
        {"notifications_unread_idx"},
    ),
    "withdrawn like": (
        lambda db: notifications.withdraw_like(db, user_id=1, tweet_id=2),
        {"notifications_unread_like_key", "likes_pkey"},
    ),
    "withdrawn follow": (
        lambda db: notifications.withdraw_follow(db, follower_id=1, followee_id=2),
        {"notifications_unread_follow_key"},
    ),
    "token owner": (
        lambda db: tokens.user_id_for_token(db, digest=b"x" * 32),
        {"auth_tokens_pkey"},
    ),
}


@pytest.mark.parametrize("name", LIST_QUERIES)
async def test_query_uses_an_index(name: str, runtime: Runtime) -> None:
    run, indexes = LIST_QUERIES[name]
    capture = Capture()
    await run(capture)
    [(query, args)] = capture.statements
    async with runtime.db.transaction() as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in await tx.fetch(f"EXPLAIN {query}", *args))
    assert "Seq Scan" not in plan, plan
    for index in indexes:
        assert f" {index} " in f"{plan} ".replace("\n", " "), plan
