"""The follow graph's domain API: one Cypher call per method.

Services and DataLoaders use ``FollowGraph``; they never write Cypher. Batched
methods take lists so that a DataLoader turns N field resolutions into one
call. The statements live in ``chirp.graph.cypher`` and run unchanged on Neo4j
and Ladybug.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from chirp.graph import cypher
from chirp.graph.drivers import GraphDriver

#: Largest page of followers/following: the API rejects ``first`` above 100,
#: and asks for one row more to learn whether another page follows.
MAX_PAGE_SIZE: Final = 101
#: Largest page of follower ids for a fan-out walk: an author below the
#: celebrity threshold (10,000 followers by default) is walked in one or two
#: pages, and a page still fits easily in memory and in one response.
MAX_ID_PAGE_SIZE: Final = 5_000
#: Ids per batched lookup call (counts, viewerFollows, followsViewer). A
#: DataLoader batch is far smaller; past this the ids are split into several
#: calls so a huge batch never becomes one giant statement.
MAX_BATCH_IDS: Final = 1_000
#: Edges per bulk statement. Measured on Ladybug: 500k edges load in ~25 s at
#: 5,000 (bigger chunks are no faster), and each chunk holds Ladybug's single
#: write transaction (or Neo4j's locks) for only ~0.25 s, so interactive
#: follows are not stalled behind a seed.
BULK_CHUNK_EDGES: Final = 5_000
#: Node ids per ``ensure_users`` statement (node MERGEs are cheaper than edges).
BULK_CHUNK_USERS: Final = 20_000
#: Most suggestions one call returns (``whoToFollow(first)`` is capped at 100).
MAX_SUGGESTIONS: Final = 100


@dataclass(frozen=True, slots=True)
class FollowEdge:
    """One edge seen from a user: the other user and when the follow began."""

    user_id: int
    since_ms: int

    @property
    def cursor(self) -> tuple[int, int]:
        """The ``after`` value that continues a page after this edge."""
        return (self.since_ms, self.user_id)


@dataclass(frozen=True, slots=True)
class FollowCounts:
    """How many follow a user and how many the user follows."""

    follower_count: int
    following_count: int


#: Counts of a user with no edges (or unknown to the graph).
NO_FOLLOWS: Final = FollowCounts(follower_count=0, following_count=0)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A user to follow, and how many of the viewer's follows follow them."""

    user_id: int
    mutual_count: int


class FollowGraph:
    """Follows, followers, counts and suggestions over a ``GraphDriver``."""

    def __init__(self, driver: GraphDriver) -> None:
        self.driver = driver

    # ------------------------------------------------------------------ writes

    async def follow(self, *, follower_id: int, followee_id: int, since_ms: int) -> bool:
        """Make ``follower_id`` follow ``followee_id``; True if the edge is new.

        Idempotent: repeating it (a retry, a double click, concurrent calls)
        keeps one edge with its first ``since`` and returns True only once.
        """
        _check_edge(follower_id, followee_id, since_ms)
        rows = await self.driver.run(
            cypher.FOLLOW,
            {"follower_id": follower_id, "followee_id": followee_id, "since_ms": since_ms},
        )
        return bool(rows and rows[0]["created"])

    async def unfollow(self, *, follower_id: int, followee_id: int) -> bool:
        """Remove the edge; True if there was one."""
        rows = await self.driver.run(
            cypher.UNFOLLOW, {"follower_id": follower_id, "followee_id": followee_id}
        )
        return bool(rows and rows[0]["deleted"])

    async def ensure_users(self, *, user_ids: Iterable[int]) -> None:
        """Create the user nodes that do not exist yet (one call per chunk)."""
        ids = sorted(set(user_ids))
        for start in range(0, len(ids), BULK_CHUNK_USERS):
            await self.driver.run(
                cypher.ENSURE_USERS, {"user_ids": ids[start : start + BULK_CHUNK_USERS]}
            )

    async def bulk_follow(self, *, edges: Sequence[tuple[int, int, int]]) -> int:
        """Add ``(follower_id, followee_id, since_ms)`` edges; returns how many were new.

        For seeding. Repeated pairs keep the earliest ``since``; edges that
        already exist are kept as they are. Each chunk of
        ``BULK_CHUNK_EDGES`` takes two calls: its users, then its edges
        (Ladybug drops edges if one statement does both).
        """
        earliest: dict[tuple[int, int], int] = {}
        for follower_id, followee_id, since_ms in edges:
            _check_edge(follower_id, followee_id, since_ms)
            key = (follower_id, followee_id)
            known = earliest.get(key)
            if known is None or since_ms < known:
                earliest[key] = since_ms
        pairs = list(earliest.items())
        created = 0
        for start in range(0, len(pairs), BULK_CHUNK_EDGES):
            chunk = pairs[start : start + BULK_CHUNK_EDGES]
            users = sorted({user for pair, _ in chunk for user in pair})
            await self.driver.run(cypher.ENSURE_USERS, {"user_ids": users})
            rows = await self.driver.run(
                cypher.BULK_FOLLOW,
                {
                    "edges": [
                        {"follower_id": a, "followee_id": b, "since_ms": since}
                        for (a, b), since in chunk
                    ]
                },
            )
            created += int(rows[0]["created"]) if rows else 0
        return created

    async def clear(self) -> None:
        """Delete every user and edge (tests and local resets only)."""
        await self.driver.run(cypher.CLEAR)

    # ------------------------------------------------------------------- pages

    async def followers(
        self, *, user_id: int, first: int, after: tuple[int, int] | None = None
    ) -> list[FollowEdge]:
        """Who follows ``user_id``, newest first; ``after`` is the last edge's cursor."""
        return await self._page(cypher.FOLLOWERS_PAGE, user_id, first, after)

    async def following(
        self, *, user_id: int, first: int, after: tuple[int, int] | None = None
    ) -> list[FollowEdge]:
        """Whom ``user_id`` follows, newest first; ``after`` is the last edge's cursor."""
        return await self._page(cypher.FOLLOWING_PAGE, user_id, first, after)

    async def _page(
        self, query: str, user_id: int, first: int, after: tuple[int, int] | None
    ) -> list[FollowEdge]:
        _check_limit("first", first, MAX_PAGE_SIZE)
        if first == 0:
            return []
        before_since, before_id = after if after is not None else (cypher.INT64_MAX,) * 2
        rows = await self.driver.run(
            query,
            {
                "user_id": user_id,
                "before_since": before_since,
                "before_id": before_id,
                "first": first,
            },
        )
        return [FollowEdge(user_id=row["user_id"], since_ms=row["since_ms"]) for row in rows]

    async def following_ids(self, *, user_id: int) -> list[int]:
        """Every user ``user_id`` follows, by id (home feed rebuild)."""
        rows = await self.driver.run(cypher.FOLLOWING_IDS, {"user_id": user_id})
        return [row["user_id"] for row in rows]

    async def follower_ids_page(
        self, *, user_id: int, after_id: int | None = None, limit: int = MAX_ID_PAGE_SIZE
    ) -> list[int]:
        """Followers by ascending id after ``after_id`` (fan-out walk).

        Pass the last id of the previous page; an empty or short page ends the
        walk. Ordering by id keeps the walk exact while follows change.
        """
        _check_limit("limit", limit, MAX_ID_PAGE_SIZE)
        if limit == 0:
            return []
        rows = await self.driver.run(
            cypher.FOLLOWER_IDS_PAGE,
            {
                "user_id": user_id,
                "after_id": cypher.INT64_MIN if after_id is None else after_id,
                "limit": limit,
            },
        )
        return [row["user_id"] for row in rows]

    # ------------------------------------------------------- batched lookups

    async def counts(self, *, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        """Follower and following counts for each id; zeros for unknown users."""
        ids = list(dict.fromkeys(user_ids))
        found: dict[int, FollowCounts] = {}
        for chunk in _chunks(ids, MAX_BATCH_IDS):
            rows = await self.driver.run(cypher.COUNTS, {"user_ids": chunk})
            for row in rows:
                found[row["user_id"]] = FollowCounts(
                    follower_count=row["follower_count"],
                    following_count=row["following_count"],
                )
        return {user_id: found.get(user_id, NO_FOLLOWS) for user_id in ids}

    async def follower_count(self, *, user_id: int) -> int:
        """How many follow ``user_id`` (fan-out's celebrity check)."""
        rows = await self.driver.run(cypher.FOLLOWER_COUNT, {"user_id": user_id})
        return rows[0]["follower_count"] if rows else 0

    async def follows_pairs(self, *, follower_id: int, followee_ids: Sequence[int]) -> set[int]:
        """Which of ``followee_ids`` ``follower_id`` follows (viewerFollows)."""
        followed: set[int] = set()
        for chunk in _chunks(list(dict.fromkeys(followee_ids)), MAX_BATCH_IDS):
            rows = await self.driver.run(
                cypher.FOLLOWS_ANY, {"follower_id": follower_id, "followee_ids": chunk}
            )
            followed.update(row["user_id"] for row in rows)
        return followed

    async def followed_by(self, *, user_id: int, follower_ids: Sequence[int]) -> set[int]:
        """Which of ``follower_ids`` follow ``user_id`` (followsViewer)."""
        following: set[int] = set()
        for chunk in _chunks(list(dict.fromkeys(follower_ids)), MAX_BATCH_IDS):
            rows = await self.driver.run(
                cypher.FOLLOWED_BY_ANY, {"user_id": user_id, "follower_ids": chunk}
            )
            following.update(row["user_id"] for row in rows)
        return following

    # ------------------------------------------------------------- discovery

    async def suggestions(self, *, user_id: int, first: int) -> list[Suggestion]:
        """Friends of friends not yet followed, most shared follows first.

        Empty when the user follows nobody (or only dead ends): the caller
        then falls back to ``most_followed``. The walk costs the sum of the
        friends' out-degrees (5-15 ms on a 500k-edge Ladybug graph for a user
        following 2,000), so callers should cache the result briefly.
        """
        _check_limit("first", first, MAX_SUGGESTIONS)
        if first == 0:
            return []
        rows = await self.driver.run(cypher.SUGGESTIONS, {"user_id": user_id, "first": first})
        return [
            Suggestion(user_id=row["user_id"], mutual_count=row["mutual_count"]) for row in rows
        ]

    async def most_followed(self, *, first: int, exclude: Sequence[int] = ()) -> list[int]:
        """The most followed users (ties by id), skipping ``exclude``.

        This scans every user, so callers should cache it rather than run it
        per request.
        """
        _check_limit("first", first, MAX_SUGGESTIONS)
        if first == 0:
            return []
        rows = await self.driver.run(
            cypher.MOST_FOLLOWED, {"first": first, "exclude": list(dict.fromkeys(exclude))}
        )
        return [row["user_id"] for row in rows]

    # ------------------------------------------------------------- home feeds

    async def following_follower_counts(self, *, user_id: int) -> dict[int, int]:
        """Whom ``user_id`` follows, each with their follower count (feed rebuild).

        One call, however many are followed: the rebuild needs both to leave
        the celebrities it follows out of the stored timeline.
        """
        rows = await self.driver.run(cypher.FOLLOWING_FOLLOWER_COUNTS, {"user_id": user_id})
        return {row["user_id"]: row["follower_count"] for row in rows}


def _check_edge(follower_id: int, followee_id: int, since_ms: int) -> None:
    if follower_id == followee_id:
        raise ValueError(f"user {follower_id} cannot follow themselves")
    if since_ms < 0:  # the created-mark in cypher.FOLLOW relies on this
        raise ValueError(f"since_ms must be epoch milliseconds, got {since_ms}")


def _check_limit(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be between 0 and {maximum}, got {value}")


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    """``ids`` in slices of ``size``; no slice (so no call) for no ids."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]
