"""Users in Postgres."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from chirp.persistence.postgres import Executor

_COLUMNS = "id, handle, display_name, bio, created_at, tweet_count"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    handle: str
    display_name: str
    bio: str
    created_at: datetime
    #: Tweets and retweets; kept exact by the statements that add or remove them.
    tweet_count: int


class HandleTaken(Exception):
    """The handle is already used by another account (in any letter case)."""


def user_from_row(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        bio=row["bio"],
        created_at=row["created_at"],
        tweet_count=row["tweet_count"],
    )


async def insert_user(
    db: Executor, *, user_id: int, handle: str, display_name: str, password_hash: str
) -> UserRecord:
    try:
        row = await db.fetchrow(
            f"INSERT INTO users (id, handle, display_name, password_hash) "
            f"VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
            user_id,
            handle,
            display_name,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise HandleTaken(handle) from None
    assert row is not None
    return user_from_row(row)


async def user_by_handle(db: Executor, handle: str) -> UserRecord | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE lower(handle) = lower($1)", handle)
    return user_from_row(row) if row else None


async def users_by_ids(db: Executor, user_ids: Sequence[int]) -> list[UserRecord]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM users WHERE id = ANY($1::bigint[])", user_ids)
    return [user_from_row(row) for row in rows]


async def credentials_by_handle(db: Executor, handle: str) -> tuple[UserRecord, str] | None:
    """The user and their password hash, for logging in."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE lower(handle) = lower($1)", handle
    )
    return (user_from_row(row), row["password_hash"]) if row else None


async def set_password_hash(db: Executor, *, user_id: int, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def update_profile(
    db: Executor, *, user_id: int, display_name: str | None, bio: str | None
) -> UserRecord | None:
    """Set the given fields; ``None`` leaves a field as it is."""
    row = await db.fetchrow(
        f"UPDATE users SET display_name = coalesce($2, display_name), bio = coalesce($3, bio) "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        user_id,
        display_name,
        bio,
    )
    return user_from_row(row) if row else None


async def user_ids_by_handles(db: Executor, handles: Sequence[str]) -> list[int]:
    """Ids of the users with these handles (any case), in the order of ``handles``."""
    rows = await db.fetch(
        "SELECT h.handle, u.id FROM unnest($1::text[]) WITH ORDINALITY AS h(handle, ord) "
        "JOIN users u ON lower(u.handle) = lower(h.handle) ORDER BY h.ord",
        list(handles),
    )
    return [row["id"] for row in rows]
