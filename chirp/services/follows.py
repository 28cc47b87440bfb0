"""Follows: the graph is their record; Postgres says who exists and keeps their events.

``follow`` and ``unfollow`` are idempotent MERGE/DELETE on the graph, so a
client (or a later step) retrying after a failure converges on one edge and
exact counts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from chirp.errors import BadUserInput, NotFound
from chirp.graph.follows import FollowEdge, FollowGraph
from chirp.pagination import check_first, decode_cursor
from chirp.persistence import outbox, users
from chirp.persistence.users import UserRecord
from chirp.runtime import Runtime

#: The most-followed list changes slowly and costs a scan of every user on
#: the graph, so it is computed at most this often and shared through Redis.
MOST_FOLLOWED_CACHE_SECONDS = 300
#: How many most-followed ids are kept: whoToFollow asks for at most 100.
MOST_FOLLOWED_CACHE_SIZE = 100
_MOST_FOLLOWED_KEY = "who_to_follow:most_followed"

Direction = Literal["followers", "following"]


@dataclass(frozen=True, slots=True)
class FollowPage:
    edges: list[FollowEdge]
    has_next_page: bool


async def _existing_user(rt: Runtime, user_id: int) -> UserRecord:
    found = await users.users_by_ids(rt.db, [user_id])
    if not found:
        raise NotFound("No such user.", field="userId")
    return found[0]


async def follow(rt: Runtime, *, follower_id: int, followee_id: int) -> UserRecord:
    if follower_id == followee_id:
        raise BadUserInput("You cannot follow yourself.", field="userId")
    followee = await _existing_user(rt, followee_id)
    await FollowGraph(rt.graph).follow(
        follower_id=follower_id, followee_id=followee_id, since_ms=time.time_ns() // 1_000_000
    )
    await _record(rt, outbox.FOLLOWED, follower_id=follower_id, followee_id=followee_id)
    return followee


async def unfollow(rt: Runtime, *, follower_id: int, followee_id: int) -> UserRecord:
    if follower_id == followee_id:
        raise BadUserInput("You cannot unfollow yourself.", field="userId")
    followee = await _existing_user(rt, followee_id)
    await FollowGraph(rt.graph).unfollow(follower_id=follower_id, followee_id=followee_id)
    await _record(rt, outbox.UNFOLLOWED, follower_id=follower_id, followee_id=followee_id)
    return followee


async def _record(rt: Runtime, kind: str, *, follower_id: int, followee_id: int) -> None:
    """The feed event of a follow change, after the graph (its record) took it.

    Emitted on every call, not only when the edge changed: if the process died
    between the graph write and this insert, the client's retry emits it. The
    handlers read the graph, so a late or repeated event cannot undo a newer
    change.
    """
    payload = {"follower_id": follower_id, "followee_id": followee_id}
    await outbox.add(rt.db, kind=kind, payload=payload)


async def follow_page(
    rt: Runtime, *, user_id: int, direction: Direction, first: int | None, after: str | None
) -> FollowPage:
    """Followers or followees, newest follow first, keyset-paged by (since, id)."""
    size = check_first(first)
    cursor = decode_cursor(after, size=2)
    graph = FollowGraph(rt.graph)
    fetch = graph.followers if direction == "followers" else graph.following
    # One edge more than asked tells whether another page follows.
    edges = await fetch(
        user_id=user_id, first=size + 1, after=(cursor[0], cursor[1]) if cursor else None
    )
    return FollowPage(edges=edges[:size], has_next_page=len(edges) > size)


async def who_to_follow(rt: Runtime, *, user_id: int, first: int | None) -> list[int]:
    """Friends of friends, ranked by how many of your followees follow them; topped up
    with the most-followed users you do not follow yet (all of it when you follow nobody)."""
    size = check_first(first)
    graph = FollowGraph(rt.graph)
    picked = [s.user_id for s in await graph.suggestions(user_id=user_id, first=size)]
    if len(picked) < size:
        candidates = [
            c for c in await _most_followed(rt, graph) if c != user_id and c not in picked
        ]
        followed = await graph.follows_pairs(follower_id=user_id, followee_ids=candidates)
        picked += [c for c in candidates if c not in followed][: size - len(picked)]
    return picked


async def _most_followed(rt: Runtime, graph: FollowGraph) -> list[int]:
    cached = await rt.redis.get(_MOST_FOLLOWED_KEY)
    if cached is not None:
        return json.loads(cached)
    ids = await graph.most_followed(first=MOST_FOLLOWED_CACHE_SIZE)
    await rt.redis.set(_MOST_FOLLOWED_KEY, json.dumps(ids), ex=MOST_FOLLOWED_CACHE_SECONDS)
    return ids
