"""Notifications in Postgres.

Every write re-checks, in the same statement, the fact it is about (the like
still exists, the tweet is still there), because the events behind them can
arrive late: a like that was taken back before its event was handled makes
no notification. Inserts are idempotent through ``event_id`` (see the
migration), so a redelivered event makes nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import asyncpg

from chirp.persistence.postgres import Executor


class NotificationKind(Enum):
    FOLLOW = "FOLLOW"
    LIKE = "LIKE"
    RETWEET = "RETWEET"
    REPLY = "REPLY"
    MENTION = "MENTION"
    QUOTE = "QUOTE"


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    recipient_id: int
    kind: NotificationKind
    actor_id: int
    tweet_id: int | None
    read: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Created:
    """A notification just made: who gets it (for live delivery) and its id."""

    id: int
    recipient_id: int


_COLUMNS = "id, recipient_id, kind, actor_id, tweet_id, read, created_at"


def _record(row: asyncpg.Record) -> NotificationRecord:
    return NotificationRecord(
        id=row["id"],
        recipient_id=row["recipient_id"],
        kind=NotificationKind(row["kind"]),
        actor_id=row["actor_id"],
        tweet_id=row["tweet_id"],
        read=row["read"],
        created_at=row["created_at"],
    )


def _created(rows: Sequence[asyncpg.Record]) -> list[Created]:
    return [Created(row["id"], row["recipient_id"]) for row in rows]


# Arrays of (id, recipient, kind) for one tweet; rows whose tweet is gone
# (deleted before the event was handled) are not made.
_INSERT_ABOUT_TWEET = """
INSERT INTO notifications (id, recipient_id, kind, actor_id, tweet_id, event_id)
SELECT n.id, n.recipient_id, n.kind, t.author_id, t.id, $5
FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS n(id, recipient_id, kind)
JOIN tweets t ON t.id = $4
WHERE n.recipient_id <> t.author_id
ON CONFLICT DO NOTHING
RETURNING id, recipient_id
"""


async def add_about_tweet(
    db: Executor,
    *,
    ids: Sequence[int],
    recipients: Sequence[tuple[int, NotificationKind]],
    tweet_id: int,
    event_id: int,
) -> list[Created]:
    """Notify each ``(recipient, kind)`` of the tweet ``tweet_id`` by its author."""
    try:
        rows = await db.fetch(
            _INSERT_ABOUT_TWEET,
            list(ids),
            [recipient for recipient, _ in recipients],
            [kind.value for _, kind in recipients],
            tweet_id,
            event_id,
        )
    except asyncpg.ForeignKeyViolationError:  # the tweet or a recipient went meanwhile
        return []
    return _created(rows)


_INSERT_LIKE = """
INSERT INTO notifications (id, recipient_id, kind, actor_id, tweet_id, event_id)
SELECT $1, t.author_id, 'LIKE', l.user_id, t.id, $4
FROM likes l JOIN tweets t ON t.id = l.tweet_id
WHERE l.user_id = $2 AND l.tweet_id = $3 AND t.author_id <> l.user_id
ON CONFLICT DO NOTHING
RETURNING id, recipient_id
"""


async def add_like(
    db: Executor, *, notification_id: int, user_id: int, tweet_id: int, event_id: int
) -> list[Created]:
    """Notify the author that ``user_id`` likes ``tweet_id``, if the like still holds."""
    try:
        rows = await db.fetch(_INSERT_LIKE, notification_id, user_id, tweet_id, event_id)
    except asyncpg.ForeignKeyViolationError:
        return []
    return _created(rows)


async def withdraw_like(db: Executor, *, user_id: int, tweet_id: int) -> int:
    """Remove the unread LIKE notification of a like that no longer holds."""
    status = await db.execute(
        "DELETE FROM notifications WHERE kind = 'LIKE' AND actor_id = $1 AND tweet_id = $2 "
        "AND NOT read AND NOT EXISTS "
        "(SELECT 1 FROM likes WHERE user_id = $1 AND tweet_id = $2)",
        user_id,
        tweet_id,
    )
    return int(status.split()[-1])


async def add_follow(
    db: Executor, *, notification_id: int, follower_id: int, followee_id: int, event_id: int
) -> list[Created]:
    """Notify ``followee_id`` of a new follower (the caller checked the graph)."""
    try:
        rows = await db.fetch(
            "INSERT INTO notifications (id, recipient_id, kind, actor_id, event_id) "
            "SELECT $1::bigint, $3::bigint, 'FOLLOW', $2::bigint, $4::bigint WHERE $2 <> $3 "
            "ON CONFLICT DO NOTHING RETURNING id, recipient_id",
            notification_id,
            follower_id,
            followee_id,
            event_id,
        )
    except asyncpg.ForeignKeyViolationError:  # an account was deleted meanwhile
        return []
    return _created(rows)


async def withdraw_follow(db: Executor, *, follower_id: int, followee_id: int) -> int:
    """Remove the unread FOLLOW notification (the caller checked the graph)."""
    status = await db.execute(
        "DELETE FROM notifications "
        "WHERE kind = 'FOLLOW' AND actor_id = $1 AND recipient_id = $2 AND NOT read",
        follower_id,
        followee_id,
    )
    return int(status.split()[-1])


async def page(
    db: Executor, *, recipient_id: int, before: int | None, limit: int
) -> list[NotificationRecord]:
    """Newest first, keyset-paged by id (ids are time-ordered)."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM notifications "
        "WHERE recipient_id = $1 AND ($2::bigint IS NULL OR id < $2) "
        "ORDER BY id DESC LIMIT $3",
        recipient_id,
        before,
        limit,
    )
    return [_record(row) for row in rows]


async def by_ids(db: Executor, ids: Sequence[int]) -> list[NotificationRecord]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM notifications WHERE id = ANY($1::bigint[])", list(ids)
    )
    return [_record(row) for row in rows]


async def unread_count(db: Executor, *, recipient_id: int) -> int:
    count = await db.fetchval(
        "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND NOT read", recipient_id
    )
    return int(count)


async def mark_read(db: Executor, *, recipient_id: int) -> int:
    """Mark every unread notification read; how many were."""
    status = await db.execute(
        "UPDATE notifications SET read = true WHERE recipient_id = $1 AND NOT read", recipient_id
    )
    return int(status.split()[-1])
