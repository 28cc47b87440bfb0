"""Bulk loads with COPY, for seeding empty databases.

Per-row INSERTs of a 100k-tweet seed would cost 100k round trips; COPY loads
the same rows in one round trip per batch. The callers compute every counter
(``tweet_count``, ``reply_count``, ``retweet_count``, ``like_count``) up front,
so the rows arrive exact and no UPDATE pass is needed afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from chirp.persistence.postgres import Executor

#: ``(id, handle, display_name, bio, password_hash, created_at, tweet_count)``
UserRow = tuple[int, str, str, str, str, datetime, int]
#: ``(id, author_id, text, reply_to_id, retweet_of_id, hashtags, like_count,
#: retweet_count, reply_count, created_at)``
TweetRow = tuple[int, int, str, int | None, int | None, list[str], int, int, int, datetime]
#: ``(tag, tweet_id)``
HashtagRow = tuple[str, int]
#: ``(tweet_id, user_id, position)``
MentionRow = tuple[int, int, int]
#: ``(user_id, tweet_id, created_at)``
LikeRow = tuple[int, int, datetime]
#: ``(code, target_url, owner_id, created_at)``
LinkRow = tuple[str, str, int, datetime]
#: ``(tweet_id, position, code)``
TweetLinkRow = tuple[int, int, str]

USER_COLUMNS: Final = (
    "id",
    "handle",
    "display_name",
    "bio",
    "password_hash",
    "created_at",
    "tweet_count",
)
TWEET_COLUMNS: Final = (
    "id",
    "author_id",
    "text",
    "reply_to_id",
    "retweet_of_id",
    "hashtags",
    "like_count",
    "retweet_count",
    "reply_count",
    "created_at",
)
HASHTAG_COLUMNS: Final = ("tag", "tweet_id")
MENTION_COLUMNS: Final = ("tweet_id", "user_id", "position")
LIKE_COLUMNS: Final = ("user_id", "tweet_id", "created_at")
LINK_COLUMNS: Final = ("code", "target_url", "owner_id", "created_at")
TWEET_LINK_COLUMNS: Final = ("tweet_id", "position", "code")


async def handle_exists(db: Executor, handle: str) -> bool:
    """Whether a user has this handle (any case): the seed's "not empty" check."""
    return bool(
        await db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE lower(handle) = lower($1))", handle
        )
    )


async def copy_users(db: Executor, rows: Sequence[UserRow]) -> None:
    await db.copy_records_to_table("users", records=rows, columns=USER_COLUMNS)


async def copy_tweets(db: Executor, rows: Sequence[TweetRow]) -> None:
    """Tweets in id order: a reply's or retweet's target is in the same or an earlier batch."""
    await db.copy_records_to_table("tweets", records=rows, columns=TWEET_COLUMNS)


async def copy_hashtags(db: Executor, rows: Sequence[HashtagRow]) -> None:
    await db.copy_records_to_table("tweet_hashtags", records=rows, columns=HASHTAG_COLUMNS)


async def copy_mentions(db: Executor, rows: Sequence[MentionRow]) -> None:
    await db.copy_records_to_table("tweet_mentions", records=rows, columns=MENTION_COLUMNS)


async def copy_likes(db: Executor, rows: Sequence[LikeRow]) -> None:
    await db.copy_records_to_table("likes", records=rows, columns=LIKE_COLUMNS)


async def copy_links(db: Executor, rows: Sequence[LinkRow]) -> None:
    await db.copy_records_to_table("short_links", records=rows, columns=LINK_COLUMNS)


async def copy_tweet_links(db: Executor, rows: Sequence[TweetLinkRow]) -> None:
    """After ``copy_links`` and ``copy_tweets``: rows reference both."""
    await db.copy_records_to_table("tweet_links", records=rows, columns=TWEET_LINK_COLUMNS)
