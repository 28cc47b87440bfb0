"""The transactional outbox: events written with the writes they describe.

Writers add rows inside their own statement or transaction (see tweets.py
and :func:`add`); the relay claims rows with ``FOR UPDATE SKIP LOCKED`` (so
several relays never send one row twice at once), publishes them, and deletes
them in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chirp.persistence.postgres import Executor

#: The channel the outbox trigger notifies at commit.
CHANNEL = "chirp_outbox"

# Event kinds and their payloads. Consumers (feeds, notifications) re-read
# what they need, so a payload names only what a reader cannot look up later.
#: ``{tweet_id, author_id, hashtags}``: a tweet or retweet row was added
#: (``hashtags`` lower-cased; absent for retweets).
TWEET_ADDED = "tweet_added"
#: ``{tweets: [[tweet_id, author_id], ...], tagged: [[id, author_id, [tag, ...]], ...]}``:
#: rows deleted (the rows are gone); ``tagged`` lists those that carried
#: hashtags, and is absent when none did.
TWEETS_REMOVED = "tweets_removed"
#: ``{follower_id, followee_id}``: a follow was made, or taken back.
FOLLOWED = "followed"
UNFOLLOWED = "unfollowed"
#: ``{user_id, tweet_id}``: a like was made, or taken back.
LIKED = "liked"
UNLIKED = "unliked"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    kind: str
    payload: dict[str, Any]


async def add(db: Executor, *, kind: str, payload: dict[str, Any]) -> None:
    await db.execute(
        "INSERT INTO outbox (kind, payload) VALUES ($1, $2::jsonb)", kind, json.dumps(payload)
    )


async def claim(db: Executor, *, limit: int) -> list[OutboxRow]:
    """The oldest unsent rows, locked until the caller's transaction ends."""
    rows = await db.fetch(
        "SELECT id, kind, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", limit
    )
    return [OutboxRow(row["id"], row["kind"], json.loads(row["payload"])) for row in rows]


async def delete(db: Executor, *, ids: list[int]) -> None:
    await db.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
