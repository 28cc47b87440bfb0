"""The trends worker: counts hashtag uses per window (rules in services.trends)."""

from __future__ import annotations

from chirp.persistence import outbox
from chirp.persistence.streams import Event
from chirp.runtime import Runtime
from chirp.services import trends

GROUP = "trends"


async def handle(rt: Runtime, event: Event) -> None:
    payload = event.payload
    if event.kind == outbox.TWEET_ADDED:
        await trends.on_tweet_added(
            rt,
            tweet_id=payload["tweet_id"],
            author_id=payload["author_id"],
            hashtags=payload.get("hashtags") or [],
        )
    elif event.kind == outbox.TWEETS_REMOVED:
        tagged = [(tweet_id, author, tags) for tweet_id, author, tags in payload.get("tagged", [])]
        await trends.on_tweets_removed(rt, tagged=tagged)
