"""Hashtag uses in Postgres, for rebuilding trends after Redis lost them.

(The hashtag feed's page query lives with the other tweet lists in
:mod:`chirp.persistence.tweets`.)
"""

from __future__ import annotations

from dataclasses import dataclass

from chirp.persistence.postgres import Executor


@dataclass(frozen=True, slots=True)
class TaggedTweet:
    tweet_id: int
    author_id: int
    tags: tuple[str, ...]


_TAGGED_AFTER = """
SELECT id, author_id, hashtags FROM tweets
WHERE id IN (
    SELECT DISTINCT tweet_id FROM tweet_hashtags WHERE tweet_id > $1 ORDER BY tweet_id LIMIT $2
)
ORDER BY id
"""


async def tagged_tweets_after(db: Executor, *, after_id: int, limit: int) -> list[TaggedTweet]:
    """Up to ``limit`` tweets with hashtags and ids above ``after_id``, oldest
    first (keyset batches). Ids are Snowflakes, so a lower id bound is a time
    bound, read through ``tweet_hashtags_tweet_id_idx``."""
    rows = await db.fetch(_TAGGED_AFTER, after_id, limit)
    return [TaggedTweet(row["id"], row["author_id"], tuple(row["hashtags"])) for row in rows]
