"""Notifications: who hears about what, and reading them.

The ``on_*`` handlers are called by the notifications worker for each event.
Like the feed handlers they re-check the fact behind the event (the like
still exists, the follow still holds, the tweet is still there), because
events can arrive late or twice: a follow taken back before its event was
handled notifies nobody, and a redelivered event makes nothing twice (the
rows are keyed by the event's outbox id).

Nobody is notified of their own acts. A tweet that is at once a reply, a
quote and a mention of the same person makes one notification, the most
specific: REPLY, then QUOTE, then MENTION.
"""

from __future__ import annotations

from chirp.graph.follows import FollowGraph
from chirp.pagination import Page, check_first, decode_cursor
from chirp.persistence import notifications as rows
from chirp.persistence import tweets as tweet_rows
from chirp.persistence.notifications import Created, NotificationKind, NotificationRecord
from chirp.runtime import Runtime
from chirp.services import live


async def on_tweet_added(rt: Runtime, *, event_id: int, tweet_id: int) -> list[Created]:
    """A reply, quote, mention or retweet notifies the people it concerns."""
    tweet = await tweet_rows.tweet_by_id(rt.db, tweet_id)
    if tweet is None:
        return []  # deleted before its event was handled
    related_ids = [i for i in (tweet.retweet_of_id, tweet.reply_to_id, tweet.quote_of_id) if i]
    related = {t.id: t for t in await tweet_rows.tweets_by_ids(rt.db, related_ids)}
    recipients: dict[int, NotificationKind] = {}

    def notify(tweet_id: int | None, kind: NotificationKind) -> None:
        if tweet_id in related:
            recipients.setdefault(related[tweet_id].author_id, kind)

    notify(tweet.retweet_of_id, NotificationKind.RETWEET)
    notify(tweet.reply_to_id, NotificationKind.REPLY)
    notify(tweet.quote_of_id, NotificationKind.QUOTE)
    mentions = await tweet_rows.mentions_by_tweet_ids(rt.db, [tweet.id])
    for user in mentions.get(tweet.id, []):
        recipients.setdefault(user.id, NotificationKind.MENTION)
    recipients.pop(tweet.author_id, None)
    if not recipients:
        return []
    created = await rows.add_about_tweet(
        rt.db,
        ids=[rt.ids.next_id() for _ in recipients],
        recipients=list(recipients.items()),
        tweet_id=tweet.id,
        event_id=event_id,
    )
    await live.notified(rt, created=created)
    return created


async def on_liked(rt: Runtime, *, event_id: int, user_id: int, tweet_id: int) -> list[Created]:
    created = await rows.add_like(
        rt.db,
        notification_id=rt.ids.next_id(),
        user_id=user_id,
        tweet_id=tweet_id,
        event_id=event_id,
    )
    await live.notified(rt, created=created)
    return created


async def on_unliked(rt: Runtime, *, user_id: int, tweet_id: int) -> int:
    """Take back the unread LIKE notification, unless the like holds again."""
    return await rows.withdraw_like(rt.db, user_id=user_id, tweet_id=tweet_id)


async def on_followed(
    rt: Runtime, *, event_id: int, follower_id: int, followee_id: int
) -> list[Created]:
    if not await _follows(rt, follower_id, followee_id):
        return []  # taken back before this event was handled
    created = await rows.add_follow(
        rt.db,
        notification_id=rt.ids.next_id(),
        follower_id=follower_id,
        followee_id=followee_id,
        event_id=event_id,
    )
    await live.notified(rt, created=created)
    return created


async def on_unfollowed(rt: Runtime, *, follower_id: int, followee_id: int) -> int:
    """Take back the unread FOLLOW notification, unless the follow holds again."""
    if await _follows(rt, follower_id, followee_id):
        return 0
    return await rows.withdraw_follow(rt.db, follower_id=follower_id, followee_id=followee_id)


async def _follows(rt: Runtime, follower_id: int, followee_id: int) -> bool:
    graph = FollowGraph(rt.graph)
    return bool(await graph.follows_pairs(follower_id=follower_id, followee_ids=[followee_id]))


# ---------------------------------------------------------------- reading


async def page(
    rt: Runtime, *, user_id: int, first: int | None, after: str | None
) -> Page[NotificationRecord]:
    """The user's notifications, newest first."""
    size = check_first(first)
    cursor = decode_cursor(after, size=1)
    found = await rows.page(
        rt.db, recipient_id=user_id, before=cursor[0] if cursor else None, limit=size + 1
    )
    return Page.from_rows(found, first=size, key=lambda n: (n.id,))


async def by_id(rt: Runtime, *, user_id: int, notification_id: int) -> NotificationRecord | None:
    """One of the user's notifications; None when missing or someone else's."""
    found = await rows.by_ids(rt.db, [notification_id])
    return found[0] if found and found[0].recipient_id == user_id else None


async def unread_count(rt: Runtime, *, user_id: int) -> int:
    return await rows.unread_count(rt.db, recipient_id=user_id)


async def mark_all_read(rt: Runtime, *, user_id: int) -> int:
    return await rows.mark_read(rt.db, recipient_id=user_id)
