"""The feed worker: applies feed events to home timelines (rules in services.feeds)."""

from __future__ import annotations

from chirp.persistence import outbox
from chirp.persistence.streams import Event
from chirp.runtime import Runtime
from chirp.services import feeds

GROUP = "feeds"


async def handle(rt: Runtime, event: Event) -> None:
    payload = event.payload
    if event.kind == outbox.TWEET_ADDED:
        await feeds.on_tweet_added(rt, tweet_id=payload["tweet_id"], author_id=payload["author_id"])
    elif event.kind == outbox.TWEETS_REMOVED:
        removed = [(tweet_id, author_id) for tweet_id, author_id in payload["tweets"]]
        await feeds.on_tweets_removed(rt, tweets=removed)
    elif event.kind == outbox.FOLLOWED:
        await feeds.on_follow(
            rt, follower_id=payload["follower_id"], followee_id=payload["followee_id"]
        )
    elif event.kind == outbox.UNFOLLOWED:
        await feeds.on_unfollow(
            rt, follower_id=payload["follower_id"], followee_id=payload["followee_id"]
        )
