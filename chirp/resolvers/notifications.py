"""Notifications: the viewer's list, unread count, marking read, and live delivery."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial

import strawberry

from chirp.ids import NodeKind, to_global_id
from chirp.pagination import DEFAULT_PAGE_SIZE, Page
from chirp.persistence.notifications import NotificationRecord
from chirp.persistence.tweets import TweetRecord
from chirp.persistence.users import UserRecord
from chirp.resolvers import ChirpInfo
from chirp.services import live, notifications


async def notification_page(
    info: ChirpInfo, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
) -> Page[NotificationRecord]:
    ctx = info.context
    viewer_id = await ctx.require_viewer_id()
    return await notifications.page(ctx.rt, user_id=viewer_id, first=first, after=after)


async def mark_notifications_read(info: ChirpInfo) -> int:
    ctx = info.context
    viewer_id = await ctx.require_viewer_id()
    return await notifications.mark_all_read(ctx.rt, user_id=viewer_id)


async def unread_notification_count(
    root: strawberry.Parent[UserRecord], info: ChirpInfo
) -> int | None:
    ctx = info.context
    if await ctx.viewer_id() != root.id:
        return None
    return await notifications.unread_count(ctx.rt, user_id=root.id)


async def live_notifications(info: ChirpInfo) -> AsyncGenerator[NotificationRecord, None]:
    """Checks the token now and, through the live service, before each delivery."""
    ctx = info.context
    viewer_id = await ctx.require_viewer_id(fresh=True)
    authorize = partial(ctx.require_viewer_id, fresh=True)
    async with ctx.subscription_slot():
        ids_from_now = live.notifications(ctx.rt, user_id=viewer_id, authorize=authorize)
        async with aclosing(ids_from_now) as ids:
            async for notification_id in ids:
                ctx.fresh_loaders()
                found = await notifications.by_id(
                    ctx.rt, user_id=viewer_id, notification_id=notification_id
                )
                if found is not None:  # not taken back (unlike, unfollow) meanwhile
                    yield found


def notification_global_id(root: strawberry.Parent[NotificationRecord]) -> strawberry.ID:
    return strawberry.ID(to_global_id(NodeKind.NOTIFICATION, root.id))


async def actor(root: strawberry.Parent[NotificationRecord], info: ChirpInfo) -> UserRecord:
    user = await info.context.loaders.user_by_id.load(root.actor_id)
    assert user is not None, "the actor's notifications go with the account"
    return user


async def tweet(root: strawberry.Parent[NotificationRecord], info: ChirpInfo) -> TweetRecord | None:
    if root.tweet_id is None:
        return None
    return await info.context.loaders.tweet_by_id.load(root.tweet_id)
