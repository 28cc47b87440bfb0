"""``node(id)``: any object by its global id."""

from __future__ import annotations

import strawberry

from chirp.ids import NodeKind, from_global_id
from chirp.resolvers import ChirpInfo
from chirp.services import notifications


async def node(info: ChirpInfo, id: strawberry.ID) -> object | None:
    kind, number = from_global_id(id)
    loaders = info.context.loaders
    if kind is NodeKind.USER:
        return await loaders.user_by_id.load(number)
    if kind is NodeKind.TWEET:
        return await loaders.tweet_by_id.load(number)
    if kind is NodeKind.NOTIFICATION:  # only the recipient's own
        viewer_id = await info.context.viewer_id()
        if viewer_id is None:
            return None
        return await notifications.by_id(info.context.rt, user_id=viewer_id, notification_id=number)
    return None
