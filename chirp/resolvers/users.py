"""Users: the viewer, lookups by handle, profile edits, and User fields."""

from __future__ import annotations

import strawberry

from chirp.ids import NodeKind, to_global_id
from chirp.persistence.users import UserRecord
from chirp.resolvers import ChirpInfo
from chirp.services import accounts


async def viewer(info: ChirpInfo) -> UserRecord | None:
    ctx = info.context
    viewer_id = await ctx.viewer_id()
    return None if viewer_id is None else await ctx.loaders.user_by_id.load(viewer_id)


async def user(info: ChirpInfo, handle: str) -> UserRecord | None:
    ctx = info.context
    found = await accounts.user_by_handle(ctx.rt, handle=handle)
    if found is not None:
        ctx.loaders.user_by_id.prime_record(found)
    return found


async def update_profile(
    info: ChirpInfo, display_name: str | None = None, bio: str | None = None
) -> UserRecord:
    ctx = info.context
    viewer_id = await ctx.require_viewer_id()
    updated = await accounts.update_profile(
        ctx.rt, user_id=viewer_id, display_name=display_name, bio=bio
    )
    ctx.loaders.user_by_id.prime_record(updated)
    return updated


def user_global_id(root: strawberry.Parent[UserRecord]) -> strawberry.ID:
    return strawberry.ID(to_global_id(NodeKind.USER, root.id))
