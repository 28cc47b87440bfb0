"""Tweets, retweets, likes, hashtags and mentions in Postgres.

Writes that change feeds or notify someone record an outbox event in the same statement or
transaction, so the event exists exactly when the write committed.

Writes that change a counter do it in the same statement as the row they
count (one round trip, atomic, exact under concurrency: the counter update
re-reads the latest row version under its row lock). Deleting is the
exception: it touches several counters that may share rows, which one
statement cannot update twice, so it runs as a short transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from chirp.persistence import outbox
from chirp.persistence.links import TWEET_LINKS_CTE
from chirp.persistence.postgres import Database, Executor
from chirp.persistence.users import UserRecord, user_from_row

_COLUMNS = (
    "id, author_id, text, reply_to_id, quote_of_id, retweet_of_id, hashtags, "
    "like_count, retweet_count, reply_count, created_at"
)


@dataclass(frozen=True, slots=True)
class TweetRecord:
    id: int
    author_id: int
    text: str
    reply_to_id: int | None
    quote_of_id: int | None
    retweet_of_id: int | None
    hashtags: tuple[str, ...]
    like_count: int
    retweet_count: int
    reply_count: int
    created_at: datetime


class MissingReference(Exception):
    """A referenced tweet (reply target or quote) does not exist."""


def _tweet(row: asyncpg.Record) -> TweetRecord:
    return TweetRecord(
        id=row["id"],
        author_id=row["author_id"],
        text=row["text"],
        reply_to_id=row["reply_to_id"],
        quote_of_id=row["quote_of_id"],
        retweet_of_id=row["retweet_of_id"],
        hashtags=tuple(row["hashtags"]),
        like_count=row["like_count"],
        retweet_count=row["retweet_count"],
        reply_count=row["reply_count"],
        created_at=row["created_at"],
    )


_INSERT_TWEET = f"""
WITH new AS (
    INSERT INTO tweets (id, author_id, text, reply_to_id, quote_of_id, hashtags)
    VALUES ($1, $2, $3, $4, $5, $6::text[])
    RETURNING {_COLUMNS}
), tags AS (
    INSERT INTO tweet_hashtags (tag, tweet_id) SELECT tag, $1 FROM unnest($6::text[]) AS tag
), mentioned AS (
    INSERT INTO tweet_mentions (tweet_id, user_id, position)
    SELECT $1, user_id, ord - 1 FROM unnest($7::bigint[]) WITH ORDINALITY AS m(user_id, ord)
), author AS (
    UPDATE users SET tweet_count = tweet_count + 1 WHERE id = $2
), parent AS (
    UPDATE tweets SET reply_count = reply_count + 1 WHERE id = $4
), event AS (
    INSERT INTO outbox (kind, payload)
    SELECT '{outbox.TWEET_ADDED}',
           jsonb_build_object('tweet_id', id, 'author_id', author_id, 'hashtags', hashtags)
    FROM new
), {TWEET_LINKS_CTE}
SELECT {_COLUMNS} FROM new
"""


async def insert_tweet(
    db: Executor,
    *,
    tweet_id: int,
    author_id: int,
    text: str,
    reply_to_id: int | None,
    quote_of_id: int | None,
    hashtags: Sequence[str],
    mention_ids: Sequence[int],
    links: Sequence[tuple[str, str | None]] = (),
) -> TweetRecord:
    """``links``: ``(code, target)`` in order of appearance; see ``TWEET_LINKS_CTE``."""
    try:
        row = await db.fetchrow(
            _INSERT_TWEET,
            tweet_id,
            author_id,
            text,
            reply_to_id,
            quote_of_id,
            list(hashtags),
            list(mention_ids),
            [code for code, _ in links],
            [target for _, target in links],
        )
    except asyncpg.ForeignKeyViolationError:
        raise MissingReference() from None
    assert row is not None
    return _tweet(row)


_RETWEET = f"""
WITH new AS (
    INSERT INTO tweets (id, author_id, text, retweet_of_id) VALUES ($1, $2, '', $3)
    ON CONFLICT (author_id, retweet_of_id) WHERE retweet_of_id IS NOT NULL DO NOTHING
    RETURNING id
), author AS (
    UPDATE users SET tweet_count = tweet_count + (SELECT count(*) FROM new) WHERE id = $2
), event AS (
    INSERT INTO outbox (kind, payload)
    SELECT '{outbox.TWEET_ADDED}', jsonb_build_object('tweet_id', id, 'author_id', $2::bigint)
    FROM new
)
UPDATE tweets SET retweet_count = retweet_count + (SELECT count(*) FROM new)
WHERE id = $3 RETURNING {_COLUMNS}
"""

_UNDO_RETWEET = f"""
WITH gone AS (
    DELETE FROM tweets WHERE author_id = $1 AND retweet_of_id = $2 RETURNING id
), author AS (
    UPDATE users SET tweet_count = tweet_count - (SELECT count(*) FROM gone) WHERE id = $1
), event AS (
    INSERT INTO outbox (kind, payload)
    SELECT '{outbox.TWEETS_REMOVED}',
           jsonb_build_object('tweets', jsonb_build_array(jsonb_build_array(id, $1::bigint)))
    FROM gone
)
UPDATE tweets SET retweet_count = retweet_count - (SELECT count(*) FROM gone)
WHERE id = $2 RETURNING {_COLUMNS}
"""


async def _engagement(db: Executor, query: str, *args: object) -> TweetRecord | None:
    """Run a like or retweet statement: the tweet with its new counts, or None
    when it is gone (deleted since the caller looked it up)."""
    try:
        row = await db.fetchrow(query, *args)
    except asyncpg.ForeignKeyViolationError:
        return None
    return _tweet(row) if row else None


async def retweet(
    db: Executor, *, retweet_id: int, user_id: int, tweet_id: int
) -> TweetRecord | None:
    """Retweet once (idempotent, one per user per tweet); the original tweet."""
    return await _engagement(db, _RETWEET, retweet_id, user_id, tweet_id)


async def undo_retweet(db: Executor, *, user_id: int, tweet_id: int) -> TweetRecord | None:
    """Remove the user's retweet if there is one; the original tweet."""
    return await _engagement(db, _UNDO_RETWEET, user_id, tweet_id)


_LIKE = f"""
WITH new AS (
    INSERT INTO likes (user_id, tweet_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1
), event AS (
    INSERT INTO outbox (kind, payload)
    SELECT '{outbox.LIKED}', jsonb_build_object('user_id', $1::bigint, 'tweet_id', $2::bigint)
    FROM new
)
UPDATE tweets SET like_count = like_count + (SELECT count(*) FROM new)
WHERE id = $2 RETURNING {_COLUMNS}
"""

_UNLIKE = f"""
WITH gone AS (
    DELETE FROM likes WHERE user_id = $1 AND tweet_id = $2 RETURNING 1
), event AS (
    INSERT INTO outbox (kind, payload)
    SELECT '{outbox.UNLIKED}', jsonb_build_object('user_id', $1::bigint, 'tweet_id', $2::bigint)
    FROM gone
)
UPDATE tweets SET like_count = like_count - (SELECT count(*) FROM gone)
WHERE id = $2 RETURNING {_COLUMNS}
"""


async def like(db: Executor, *, user_id: int, tweet_id: int) -> TweetRecord | None:
    """Like once (idempotent); the tweet with its new count."""
    return await _engagement(db, _LIKE, user_id, tweet_id)


async def unlike(db: Executor, *, user_id: int, tweet_id: int) -> TweetRecord | None:
    return await _engagement(db, _UNLIKE, user_id, tweet_id)


async def delete_tweet(db: Database, *, tweet_id: int) -> TweetRecord | None:
    """Delete a tweet and the retweets of it, keeping every counter exact."""
    async with db.transaction() as tx:
        retweets = await tx.fetch(
            "DELETE FROM tweets WHERE retweet_of_id = $1 RETURNING id, author_id", tweet_id
        )
        row = await tx.fetchrow(f"DELETE FROM tweets WHERE id = $1 RETURNING {_COLUMNS}", tweet_id)
        if row is None:
            return None
        tweet = _tweet(row)
        per_author = Counter(r["author_id"] for r in retweets)
        per_author[tweet.author_id] += 1
        await tx.execute(
            "UPDATE users u SET tweet_count = u.tweet_count - d.n "
            "FROM unnest($1::bigint[], $2::int[]) AS d(id, n) WHERE u.id = d.id",
            list(per_author),
            list(per_author.values()),
        )
        if tweet.reply_to_id or tweet.retweet_of_id:
            await tx.execute(
                "UPDATE tweets SET reply_count = reply_count - (id IS NOT DISTINCT FROM $1)::int, "
                "retweet_count = retweet_count - (id IS NOT DISTINCT FROM $2)::int "
                "WHERE id IN ($1, $2)",
                tweet.reply_to_id,
                tweet.retweet_of_id,
            )
        removed = [(tweet.id, tweet.author_id)] + [(r["id"], r["author_id"]) for r in retweets]
        payload: dict[str, object] = {"tweets": removed}
        if tweet.hashtags:  # the row is gone: trends need its tags to withdraw its uses
            payload["tagged"] = [[tweet.id, tweet.author_id, list(tweet.hashtags)]]
        await outbox.add(tx, kind=outbox.TWEETS_REMOVED, payload=payload)
        return tweet


async def tweets_by_ids(db: Executor, tweet_ids: Sequence[int]) -> list[TweetRecord]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM tweets WHERE id = ANY($1::bigint[])", list(tweet_ids)
    )
    return [_tweet(row) for row in rows]


async def tweet_by_id(db: Executor, tweet_id: int) -> TweetRecord | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM tweets WHERE id = $1", tweet_id)
    return _tweet(row) if row else None


_PAGES = f"""
SELECT k.key AS page_key, t.*
FROM unnest($1::bigint[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT {_COLUMNS} FROM tweets
    WHERE {{column}} = k.key AND ($2::bigint IS NULL OR id < $2)
    ORDER BY id DESC LIMIT $3
) AS t
"""
#: Lists of tweets that can be paged per key, and the indexed column keying them.
PAGE_COLUMNS = {"author": "author_id", "replies": "reply_to_id"}


async def tweet_pages(
    db: Executor, *, by: str, keys: Sequence[int], before_id: int | None, limit: int
) -> dict[int, list[TweetRecord]]:
    """Newest-first pages of tweets for many keys (authors, parents) in one query."""
    column = PAGE_COLUMNS[by]
    rows = await db.fetch(_PAGES.format(column=column), list(keys), before_id, limit)
    pages: dict[int, list[TweetRecord]] = {key: [] for key in keys}
    for row in rows:
        pages[row["page_key"]].append(_tweet(row))
    return pages


_HASHTAG_PAGE = f"""
SELECT {", ".join("t." + c for c in _COLUMNS.split(", "))}
FROM tweet_hashtags h JOIN tweets t ON t.id = h.tweet_id
WHERE h.tag = $1 AND h.tweet_id < $2
ORDER BY h.tweet_id DESC
LIMIT $3
"""
#: The upper bound of a first page: a real bound, not NULL, so it stays an
#: index condition on the (tag, tweet_id) primary key.
_NO_ID_ABOVE = 2**63 - 1


async def hashtag_page(
    db: Executor, *, tag: str, before_id: int | None, limit: int
) -> list[TweetRecord]:
    """Tweets carrying ``tag`` (lower-cased), newest first, below ``before_id``:
    a backward range scan of ``tweet_hashtags_pkey`` and a primary-key probe
    per row."""
    bound = _NO_ID_ABOVE if before_id is None else before_id
    return [_tweet(row) for row in await db.fetch(_HASHTAG_PAGE, tag, bound, limit)]


async def viewer_flags(
    db: Executor, *, viewer_id: int, tweet_ids: Sequence[int]
) -> dict[int, tuple[bool, bool]]:
    """(liked, retweeted) by the viewer for each tweet, in one query.

    One index probe per tweet and relation, so the cost follows the page, not
    how many likes or retweets the viewer has made.
    """
    rows = await db.fetch(
        """
        SELECT t.id, l.tweet_id IS NOT NULL AS liked, r.id IS NOT NULL AS retweeted
        FROM unnest($2::bigint[]) AS t(id)
        LEFT JOIN likes l ON l.user_id = $1 AND l.tweet_id = t.id
        LEFT JOIN tweets r
            ON r.author_id = $1 AND r.retweet_of_id = t.id AND r.retweet_of_id IS NOT NULL
        """,
        viewer_id,
        list(tweet_ids),
    )
    return {row["id"]: (row["liked"], row["retweeted"]) for row in rows}


async def mentions_by_tweet_ids(
    db: Executor, tweet_ids: Sequence[int]
) -> dict[int, list[UserRecord]]:
    """Mentioned users of each tweet, in order of appearance, with their rows."""
    rows = await db.fetch(
        """
        SELECT m.tweet_id, u.id, u.handle, u.display_name, u.bio, u.created_at, u.tweet_count
        FROM tweet_mentions m JOIN users u ON u.id = m.user_id
        WHERE m.tweet_id = ANY($1::bigint[])
        ORDER BY m.tweet_id, m.position
        """,
        list(tweet_ids),
    )
    mentions: dict[int, list[UserRecord]] = {}
    for row in rows:
        mentions.setdefault(row["tweet_id"], []).append(user_from_row(row))
    return mentions


# Home feeds.

#: Bounds for ``recent_feed_entries`` when the caller gives none. Real
#: bounds, not NULLs, so both stay index conditions on (author_id, id DESC).
_NO_UPPER_BOUND = 2**63 - 1
_NO_LOWER_BOUND = 0

_RECENT_ENTRIES = """
SELECT t.id, a.author_id
FROM unnest($1::bigint[]) AS a(author_id)
CROSS JOIN LATERAL (
    SELECT id FROM tweets
    WHERE author_id = a.author_id AND id < $2 AND id > $3
    ORDER BY id DESC LIMIT $4
) AS t
ORDER BY t.id DESC
LIMIT $4
"""


async def recent_feed_entries(
    db: Executor,
    *,
    author_ids: Sequence[int],
    before_id: int | None,
    after_id: int | None,
    limit: int,
) -> list[tuple[int, int]]:
    """``(tweet id, author id)`` of the newest ``limit`` tweets and retweets of
    all ``author_ids`` together, newest first, with ids strictly between
    ``after_id`` and ``before_id`` (home feeds).

    One query. Each author is read newest-first through ``tweets_author_id_idx``
    and stops after ``limit`` rows, so the cost is bounded by authors x limit
    index entries, never by how much an author has posted in total.
    """
    if not author_ids or limit <= 0:
        return []
    rows = await db.fetch(
        _RECENT_ENTRIES,
        list(dict.fromkeys(author_ids)),
        _NO_UPPER_BOUND if before_id is None else before_id,
        _NO_LOWER_BOUND if after_id is None else after_id,
        limit,
    )
    return [(row["id"], row["author_id"]) for row in rows]
