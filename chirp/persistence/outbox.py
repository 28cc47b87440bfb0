"""The transactional outbox: events written with the writes they describe.

Writers add rows inside their own statement or transaction (see tweets.py
and :func:`add`); the relay claims rows with ``FOR UPDATE SKIP LOCKED`` (so
several relays never send one row twice at once), publishes them, and deletes
them in the same transaction, raising ``outbox_relayed``: the highest id ever
moved, which tells a Redis restored from an old snapshot from one that lost
nothing (see currency.py).
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
    #: ``outbox_relayed`` when the row was claimed: the stream it goes to must
    #: have taken every id up to this one (0: nothing to check).
    relayed_through: int = 0


async def add(db: Executor, *, kind: str, payload: dict[str, Any]) -> None:
    await db.execute(
        "INSERT INTO outbox (kind, payload) VALUES ($1, $2::jsonb)", kind, json.dumps(payload)
    )


async def claim(db: Executor, *, limit: int) -> list[OutboxRow]:
    """The oldest unsent rows, locked until the caller's transaction ends, each
    with the relay mark as it stood (same round trip)."""
    rows = await db.fetch(
        "SELECT id, kind, payload, "
        "(SELECT through_id FROM outbox_relayed) AS relayed_through "
        "FROM outbox ORDER BY id LIMIT $1 FOR UPDATE OF outbox SKIP LOCKED",
        limit,
    )
    return [
        OutboxRow(row["id"], row["kind"], json.loads(row["payload"]), row["relayed_through"] or 0)
        for row in rows
    ]


#: Deletes the rows sent and raises the mark to the highest of them, in one
#: statement; concurrent relays queue on the mark's row until they commit.
_DELETE = """
WITH gone AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]))
INSERT INTO outbox_relayed (through_id)
SELECT max(id) FROM unnest($1::bigint[]) AS id HAVING max(id) IS NOT NULL
ON CONFLICT (singleton) DO UPDATE
SET through_id = GREATEST(outbox_relayed.through_id, EXCLUDED.through_id)
"""


async def delete(db: Executor, *, ids: list[int]) -> None:
    """Drop rows the stream has taken; call it in the claiming transaction."""
    await db.execute(_DELETE, ids)


async def relayed_through(db: Executor) -> int:
    """The highest outbox id ever moved to the stream (0 before the first)."""
    return int(await db.fetchval("SELECT coalesce(max(through_id), 0) FROM outbox_relayed"))
