"""Follows: follow/unfollow, whoToFollow, and the follow fields of User."""

from __future__ import annotations

import strawberry

from chirp.ids import NodeKind, from_global_id
from chirp.loaders import forget
from chirp.pagination import DEFAULT_PAGE_SIZE, Edge, Page, encode_cursor
from chirp.persistence.users import UserRecord
from chirp.resolvers import ChirpInfo
from chirp.services import follows
from chirp.services.follows import Direction

#: The contract's default for whoToFollow.
WHO_TO_FOLLOW_DEFAULT = 5


async def _follow_change(info: ChirpInfo, user_id: strawberry.ID, *, on: bool) -> UserRecord:
    ctx = info.context
    viewer_id = await ctx.require_viewer_id()
    followee_id = from_global_id(user_id, expect=NodeKind.USER, field="userId")[1]
    change = follows.follow if on else follows.unfollow
    followee = await change(ctx.rt, follower_id=viewer_id, followee_id=followee_id)
    loaders = ctx.loaders
    loaders.user_by_id.prime_record(followee)
    loaders.viewer_follows_by_user.prime(followee_id, on, force=True)
    forget(loaders.follow_counts_by_user, viewer_id, followee_id)
    return followee


async def follow(info: ChirpInfo, user_id: strawberry.ID) -> UserRecord:
    return await _follow_change(info, user_id, on=True)


async def unfollow(info: ChirpInfo, user_id: strawberry.ID) -> UserRecord:
    return await _follow_change(info, user_id, on=False)


async def who_to_follow(
    info: ChirpInfo, first: int | None = WHO_TO_FOLLOW_DEFAULT
) -> list[UserRecord]:
    ctx = info.context
    viewer_id = await ctx.require_viewer_id()
    ids = await follows.who_to_follow(ctx.rt, user_id=viewer_id, first=first)
    found = await ctx.loaders.user_by_id.load_many(ids)
    return [user for user in found if user is not None]


# Fields of User.


async def follower_count(root: strawberry.Parent[UserRecord], info: ChirpInfo) -> int:
    return (await info.context.loaders.follow_counts_by_user.load(root.id)).follower_count


async def following_count(root: strawberry.Parent[UserRecord], info: ChirpInfo) -> int:
    return (await info.context.loaders.follow_counts_by_user.load(root.id)).following_count


async def viewer_follows(root: strawberry.Parent[UserRecord], info: ChirpInfo) -> bool:
    if info.context.token is None:
        return False
    return await info.context.loaders.viewer_follows_by_user.load(root.id)


async def follows_viewer(root: strawberry.Parent[UserRecord], info: ChirpInfo) -> bool:
    if info.context.token is None:
        return False
    return await info.context.loaders.follows_viewer_by_user.load(root.id)


async def _people(
    root: UserRecord, info: ChirpInfo, direction: Direction, first: int | None, after: str | None
) -> Page[UserRecord]:
    ctx = info.context
    page = await follows.follow_page(
        ctx.rt, user_id=root.id, direction=direction, first=first, after=after
    )
    people = await ctx.loaders.user_by_id.load_many([edge.user_id for edge in page.edges])
    edges = [
        Edge(encode_cursor(*edge.cursor), person)
        for edge, person in zip(page.edges, people, strict=True)
        if person is not None
    ]
    return Page.of(edges, has_next_page=page.has_next_page)


async def followers(
    root: strawberry.Parent[UserRecord],
    info: ChirpInfo,
    first: int | None = DEFAULT_PAGE_SIZE,
    after: str | None = None,
) -> Page[UserRecord]:
    return await _people(root, info, "followers", first, after)


async def following(
    root: strawberry.Parent[UserRecord],
    info: ChirpInfo,
    first: int | None = DEFAULT_PAGE_SIZE,
    after: str | None = None,
) -> Page[UserRecord]:
    return await _people(root, info, "following", first, after)
