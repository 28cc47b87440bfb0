"""Short links, the links of tweets, and visit counts in Postgres.

Postgres is the record of every link and of every visit that was flushed (or,
for links with ``max_visits``, granted). Visits of uncapped links arrive in
batches from Redis (``chirp.persistence.visit_counters``); a batch is applied
in one transaction together with its id in ``visit_flushes``, so a batch is
added exactly once even when a flusher dies between commit and clean-up.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from chirp.persistence.postgres import Database, Executor

_COLUMNS = "code, target_url, owner_id, created_at, expires_at, max_visits, visit_count"
#: Applied batch ids are kept this long: a batch is retried within seconds or
#: minutes of its first attempt, never a week later.
FLUSH_LOG_RETENTION = "7 days"


@dataclass(frozen=True, slots=True)
class LinkRecord:
    code: str
    target_url: str
    owner_id: int | None
    created_at: datetime
    expires_at: datetime | None
    max_visits: int | None
    #: Visits recorded in Postgres: all of them for capped links, the flushed
    #: ones for uncapped links (the rest are still in Redis).
    visit_count: int


class CodeTaken(Exception):
    """Another link already has this code (an alias chosen twice)."""


def _link(row: asyncpg.Record) -> LinkRecord:
    return LinkRecord(
        code=row["code"],
        target_url=row["target_url"],
        owner_id=row["owner_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        max_visits=row["max_visits"],
        visit_count=row["visit_count"],
    )


async def insert_link(
    db: Executor,
    *,
    code: str,
    target_url: str,
    owner_id: int,
    expires_at: datetime | None,
    max_visits: int | None,
) -> LinkRecord:
    try:
        row = await db.fetchrow(
            "INSERT INTO short_links (code, target_url, owner_id, expires_at, max_visits) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
            code,
            target_url,
            owner_id,
            expires_at,
            max_visits,
        )
    except asyncpg.UniqueViolationError:
        raise CodeTaken() from None
    assert row is not None
    return _link(row)


async def link_by_code(db: Executor, code: str) -> LinkRecord | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM short_links WHERE code = $1", code)
    return _link(row) if row else None


async def links_by_codes(db: Executor, codes: Sequence[str]) -> list[LinkRecord]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM short_links WHERE code = ANY($1::text[])", list(codes)
    )
    return [_link(row) for row in rows]


async def links_by_tweet_ids(db: Executor, tweet_ids: Sequence[int]) -> dict[int, list[LinkRecord]]:
    """Each tweet's links in order of appearance, in one query."""
    rows = await db.fetch(
        """
        SELECT t.tweet_id, s.code, s.target_url, s.owner_id, s.created_at, s.expires_at,
               s.max_visits, s.visit_count
        FROM tweet_links t JOIN short_links s ON s.code = t.code
        WHERE t.tweet_id = ANY($1::bigint[])
        ORDER BY t.tweet_id, t.position
        """,
        list(tweet_ids),
    )
    links: dict[int, list[LinkRecord]] = {}
    for row in rows:
        links.setdefault(row["tweet_id"], []).append(_link(row))
    return links


_TAKE_CAPPED_VISIT = """
WITH granted AS (
    UPDATE short_links SET visit_count = visit_count + 1
    WHERE code = $1 AND max_visits IS NOT NULL AND visit_count < max_visits
      AND (expires_at IS NULL OR expires_at > now())
    RETURNING code, target_url
), bucket AS (
    INSERT INTO link_visits (code, day, visits)
    SELECT code, (now() AT TIME ZONE 'UTC')::date, 1 FROM granted
    ON CONFLICT (code, day) DO UPDATE SET visits = link_visits.visits + 1
)
SELECT target_url FROM granted
"""


async def take_capped_visit(db: Database, *, code: str) -> str | None:
    """Grant one visit of a capped link, or None when it is used up or expired.

    One statement on the primary: the row lock serialises concurrent visits
    and each re-checks ``visit_count < max_visits`` on the latest row version,
    so exactly ``max_visits`` visits are ever granted, and each is durable
    (with its daily bucket) the moment the redirect is answered.
    """
    return await db.fetchval(_TAKE_CAPPED_VISIT, code)


_APPLIED = (
    "(SELECT coalesce(array_agg(batch_id), '{}') FROM visit_flushes WHERE batch_id = ANY($2))"
)


async def visit_totals(
    db: Executor, *, codes: Sequence[str], batch_ids: Collection[str]
) -> tuple[dict[str, int], set[str]]:
    """Recorded visits per code, and which of ``batch_ids`` are already in them.

    One statement, hence one snapshot: a batch is either in both answers or
    in neither, so the caller can add the Redis batches not yet applied
    without counting any visit twice.
    """
    rows = await db.fetch(
        f"SELECT s.code, s.visit_count, {_APPLIED} AS applied "
        "FROM unnest($1::text[]) AS c(code) JOIN short_links s ON s.code = c.code",
        list(codes),
        list(batch_ids),
    )
    applied = set(rows[0]["applied"]) if rows else set()
    return {row["code"]: row["visit_count"] for row in rows}, applied


async def daily_visits(
    db: Executor, *, codes: Sequence[str], since: date, batch_ids: Collection[str]
) -> tuple[dict[str, dict[date, int]], set[str]]:
    """Recorded visits per code and day from ``since`` on, and the applied batches
    (one snapshot, as in ``visit_totals``)."""
    rows = await db.fetch(
        f"SELECT c.code, v.day, v.visits, {_APPLIED} AS applied "
        "FROM unnest($1::text[]) AS c(code) "
        "LEFT JOIN link_visits v ON v.code = c.code AND v.day >= $3",
        list(codes),
        list(batch_ids),
        since,
    )
    days: dict[str, dict[date, int]] = {code: {} for code in codes}
    for row in rows:
        if row["day"] is not None:
            days[row["code"]][row["day"]] = row["visits"]
    applied = set(rows[0]["applied"]) if rows else set()
    return days, applied


async def apply_visit_batch(
    db: Database,
    *,
    batch_id: str,
    daily: Sequence[tuple[str, date, int]],
    totals: Sequence[tuple[str, int]],
) -> bool:
    """Add one batch of visits; False (and nothing changed) if it was added before.

    ``daily`` and ``totals`` must each name a key once (they come from one
    Redis hash). Codes without a link row are skipped rather than failing the
    whole batch forever.
    """
    async with db.transaction() as tx:
        fresh = await tx.fetchval(
            "INSERT INTO visit_flushes (batch_id) VALUES ($1) "
            "ON CONFLICT DO NOTHING RETURNING true",
            batch_id,
        )
        if not fresh:
            return False
        await tx.execute(
            """
            INSERT INTO link_visits (code, day, visits)
            SELECT v.code, v.day, v.n
            FROM unnest($1::text[], $2::date[], $3::bigint[]) AS v(code, day, n)
            WHERE EXISTS (SELECT 1 FROM short_links s WHERE s.code = v.code)
            ON CONFLICT (code, day) DO UPDATE SET visits = link_visits.visits + EXCLUDED.visits
            """,
            [code for code, _, _ in daily],
            [day for _, day, _ in daily],
            [n for _, _, n in daily],
        )
        await tx.execute(
            "UPDATE short_links s SET visit_count = s.visit_count + v.n "
            "FROM unnest($1::text[], $2::bigint[]) AS v(code, n) WHERE s.code = v.code",
            [code for code, _ in totals],
            [n for _, n in totals],
        )
        await tx.execute(
            f"DELETE FROM visit_flushes WHERE flushed_at < now() - interval '{FLUSH_LOG_RETENTION}'"
        )
    return True


async def capped_visit_left(db: Executor, *, code: str) -> str | None:
    """The target if a capped link would grant a visit now (HEAD: look, do not take)."""
    return await db.fetchval(
        "SELECT target_url FROM short_links WHERE code = $1 AND visit_count < max_visits "
        "AND (expires_at IS NULL OR expires_at > now())",
        code,
    )


#: The part of ``tweets.insert_tweet``'s statement that gives a new tweet its
#: links, so a tweet never exists without them. ``$8`` holds codes in order of
#: appearance and ``$9`` their targets: a new link for each target, or (NULL
#: target) a reference to an existing Chirp short link quoted in the tweet,
#: skipped when no such link exists. ``$1`` is the tweet, ``$2`` its author.
TWEET_LINKS_CTE = """
new_links AS (
    INSERT INTO short_links (code, target_url, owner_id)
    SELECT code, target, $2 FROM unnest($8::text[], $9::text[]) AS l(code, target)
    WHERE target IS NOT NULL
), linked AS (
    INSERT INTO tweet_links (tweet_id, position, code)
    SELECT $1, l.ord - 1, l.code
    FROM unnest($8::text[], $9::text[]) WITH ORDINALITY AS l(code, target, ord)
    WHERE l.target IS NOT NULL OR EXISTS (SELECT 1 FROM short_links s WHERE s.code = l.code)
)
"""
