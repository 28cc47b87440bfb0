"""The notifications worker: turns events into notifications (rules in services.notifications)."""

from __future__ import annotations

from chirp.persistence import outbox
from chirp.persistence.streams import Event
from chirp.runtime import Runtime
from chirp.services import notifications

GROUP = "notifications"


async def handle(rt: Runtime, event: Event) -> None:
    payload = event.payload
    if event.kind == outbox.TWEET_ADDED:
        await notifications.on_tweet_added(
            rt, event_id=event.outbox_id, tweet_id=payload["tweet_id"]
        )
    elif event.kind == outbox.LIKED:
        await notifications.on_liked(
            rt, event_id=event.outbox_id, user_id=payload["user_id"], tweet_id=payload["tweet_id"]
        )
    elif event.kind == outbox.UNLIKED:
        await notifications.on_unliked(rt, user_id=payload["user_id"], tweet_id=payload["tweet_id"])
    elif event.kind == outbox.FOLLOWED:
        await notifications.on_followed(
            rt,
            event_id=event.outbox_id,
            follower_id=payload["follower_id"],
            followee_id=payload["followee_id"],
        )
    elif event.kind == outbox.UNFOLLOWED:
        await notifications.on_unfollowed(
            rt, follower_id=payload["follower_id"], followee_id=payload["followee_id"]
        )
