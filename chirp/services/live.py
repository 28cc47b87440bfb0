"""Live delivery: which events reach which subscribers.

Home feed, following the hybrid fan-out of :mod:`chirp.services.feeds`:

* A pushed tweet (author below the celebrity threshold) is published by the
  fan-out itself, page by page, on the timeline channel of each follower
  *someone is watching* (a presence key exists), so an author with 9,000
  followers and three watchers sends three messages.
* A celebrity's tweet is published once, on the author's channel. Each
  process subscribes to the channels of the celebrities its local watchers
  follow (one Redis subscription per author per process, however many
  watchers), and follows and unfollows made while watching add or drop them.

Notifications are published on the recipient's channel when they are made.

Trends: the trends worker publishes "changed" per window. Each process runs
one watcher per window (shared by all its subscribers) that recomputes the
top list at most once per ``TRENDS_MIN_INTERVAL_SECONDS``; each subscriber
is sent its own top ``first`` only when their membership or order changed.

Messages carry ids only; the subscriber loads the rows itself, so a tweet
deleted before delivery is skipped and nothing stale travels through Redis.
All local subscribers of one tweet share one load of it and its author
(:func:`delivered_tweet`): a tweet to 1,000 watchers costs two queries, not
2,000.
Events are delivered at least once (a redelivered stream entry publishes
again), so subscribers drop ids they have just delivered.

Subscriptions end rather than go quietly wrong: a gap in delivery (see
:mod:`chirp.persistence.pubsub`) ends them with ``EVENTS_MISSED``, a slow
client with ``RATE_LIMITED``, and a revoked token with ``UNAUTHENTICATED``:
the token is checked before each delivery and at least every
``TOKEN_RECHECK_SECONDS`` while nothing is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final
from weakref import WeakKeyDictionary

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chirp.errors import ChirpError, EventsMissed, RateLimited
from chirp.graph.follows import FollowGraph
from chirp.pagination import check_first
from chirp.persistence import live, users
from chirp.persistence import tweets as tweet_rows
from chirp.persistence.notifications import Created
from chirp.persistence.pubsub import Broker, Interrupted, SlowConsumer, Subscription
from chirp.persistence.tweets import TweetRecord
from chirp.persistence.users import UserRecord
from chirp.runtime import Runtime
from chirp.services import trends
from chirp.services.trends import TrendRecord, TrendWindow

#: Ids a subscriber remembers having delivered, to drop redeliveries. A
#: redelivery follows its original within seconds, far fewer events apart.
RECENT_IDS: Final = 256
#: Events that show the client something (others only steer the subscription).
_DELIVERED_ONCE: Final = frozenset({"tweet", "notification"})
#: A window's top list is recomputed at most this often per process, however
#: fast uses arrive (the contract: at most one message per second).
TRENDS_MIN_INTERVAL_SECONDS: Final = 1.0
#: ... and at least this often: decay alone can prune a tag from the list,
#: and pruning sends no signal.
TRENDS_REFRESH_SECONDS: Final = 30.0
#: Every watcher computes the longest list a subscriber may ask for.
TRENDS_WATCHED: Final = 100
#: How long a delivered tweet's shared load is reused: every local subscriber
#: asks within milliseconds; counts shown are at most this stale.
SHARED_LOAD_SECONDS: Final = 2.0
#: What a dropped slow client is told to wait before subscribing again.
SLOW_CONSUMER_RETRY_SECONDS: Final = 1
#: What a client whose subscription was interrupted is told to wait: about
#: the pub/sub reconnect backoff's cap, so a retry mostly finds it back.
EVENTS_MISSED_RETRY_SECONDS: Final = 1
#: A live subscription re-checks its token at least this often while nothing
#: is delivered (deliveries check it each time), so a revoked token's
#: subscriptions end within this. One Redis GET per idle subscription per
#: period: 10,000 idle subscribers cost 2,000 GETs a second.
TOKEN_RECHECK_SECONDS: Final = 5.0

log = logging.getLogger(__name__)

#: Raises ``UNAUTHENTICATED`` once the subscriber's token is no longer live.
Authorize = Callable[[], Awaitable[object]]


# ---------------------------------------------------------------- publishing


async def tweet_entered_timelines(rt: Runtime, *, user_ids: Sequence[int], tweet_id: int) -> int:
    """Tell the watched ones among ``user_ids`` that ``tweet_id`` is in their feed."""
    message = live.encode(tweet=tweet_id)
    return await live.publish_to_watched_timelines(rt.redis, user_ids=user_ids, message=message)


async def celebrity_tweeted(rt: Runtime, *, author_id: int, tweet_id: int) -> None:
    await rt.broker.publish(live.author_channel(author_id), live.encode(tweet=tweet_id))


async def follows_changed(
    rt: Runtime, *, follower_id: int, followee_id: int, following: bool
) -> None:
    """Let the follower's watchers start or stop listening to a celebrity followee."""
    message = (
        live.encode(followed=followee_id) if following else live.encode(unfollowed=followee_id)
    )
    await live.publish_to_watched_timelines(rt.redis, user_ids=[follower_id], message=message)


async def notified(rt: Runtime, *, created: Sequence[Created]) -> None:
    await rt.broker.publish_many(
        [
            (live.notifications_channel(n.recipient_id), live.encode(notification=n.id))
            for n in created
        ]
    )


# ---------------------------------------------------------------- hydrating


@dataclass
class _SharedLoads:
    """Loads in flight or just done, by tweet id, for the subscribers of one process."""

    entries: dict[int, tuple[float, asyncio.Future[Delivered]]] = field(default_factory=dict)


_loads: WeakKeyDictionary[Broker, _SharedLoads] = WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Delivered:
    tweet: TweetRecord | None
    author: UserRecord | None


async def delivered_tweet(rt: Runtime, *, tweet_id: int) -> Delivered:
    """The tweet and its author, loaded once per process for all its subscribers."""
    loads = _loads.setdefault(rt.broker, _SharedLoads())
    loop = asyncio.get_running_loop()
    now = loop.time()
    for key in [k for k, (at, _) in loads.entries.items() if now - at > SHARED_LOAD_SECONDS]:
        del loads.entries[key]
    if tweet_id not in loads.entries:
        loads.entries[tweet_id] = (now, asyncio.ensure_future(_load(rt, tweet_id)))
    _, future = loads.entries[tweet_id]
    try:
        return await asyncio.shield(future)
    except Exception:
        loads.entries.pop(tweet_id, None)  # the next subscriber tries again
        raise


async def _load(rt: Runtime, tweet_id: int) -> Delivered:
    """From the primary: a replica may not have a tweet posted a moment ago."""
    tweet = await tweet_rows.tweet_by_id(rt.db, tweet_id)
    if tweet is None:
        return Delivered(None, None)
    found = await users.users_by_ids(rt.db, [tweet.author_id])
    return Delivered(tweet, found[0] if found else None)


# ---------------------------------------------------------------- subscribing


async def home_feed(
    rt: Runtime, *, user_id: int, authorize: Authorize | None = None
) -> AsyncIterator[int]:
    """Ids of tweets entering ``user_id``'s home feed from now on."""
    graph = FollowGraph(rt.graph)
    following = await graph.following_follower_counts(user_id=user_id)
    celebrities = [a for a, n in following.items() if n >= rt.settings.celebrity_followers]
    channels = [live.timeline_channel(user_id), *map(live.author_channel, celebrities)]
    presence = [live.timeline_presence(user_id)]
    with _client_errors():
        async with rt.broker.subscribe(channels, presence=presence) as subscription:
            async for event in _events(subscription, authorize):
                if "tweet" in event:
                    yield event["tweet"]
                elif "followed" in event:
                    author_id = event["followed"]
                    count = await graph.follower_count(user_id=author_id)
                    if count >= rt.settings.celebrity_followers:
                        await subscription.add(live.author_channel(author_id))
                elif "unfollowed" in event:
                    await subscription.remove(live.author_channel(event["unfollowed"]))


async def notifications(
    rt: Runtime, *, user_id: int, authorize: Authorize | None = None
) -> AsyncIterator[int]:
    """Ids of ``user_id``'s notifications made from now on."""
    with _client_errors():
        async with rt.broker.subscribe([live.notifications_channel(user_id)]) as subscription:
            async for event in _events(subscription, authorize):
                if "notification" in event:
                    yield event["notification"]


@contextlib.contextmanager
def _client_errors() -> Iterator[None]:
    """The broker's endings as the errors clients see: a dropped slow consumer
    is ``RATE_LIMITED``; an interruption, or Redis unreachable mid-delivery
    (say, recomputing trends), ``EVENTS_MISSED``. Both may subscribe again
    (and should refetch: messages were lost)."""
    try:
        yield
    except SlowConsumer:
        raise RateLimited(
            "This subscription fell too far behind and was dropped; subscribe again.",
            retry_after=SLOW_CONSUMER_RETRY_SECONDS,
        ) from None
    except (Interrupted, RedisConnectionError, RedisTimeoutError) as exc:
        log.info("a live subscription was interrupted: %r", exc)
        raise EventsMissed(retry_after=EVENTS_MISSED_RETRY_SECONDS) from None


async def _events(
    subscription: Subscription, authorize: Authorize | None
) -> AsyncIterator[dict[str, int]]:
    """Decoded messages, without repeats of recently delivered ids, each let
    through only while ``authorize()`` passes; it is also called at least
    every TOKEN_RECHECK_SECONDS while nothing comes."""
    loop = asyncio.get_running_loop()
    recent: OrderedDict[tuple[str, int], None] = OrderedDict()
    recheck_at = loop.time() + TOKEN_RECHECK_SECONDS
    while True:
        within = None if authorize is None else max(0.0, recheck_at - loop.time())
        message = await subscription.get(within)
        if authorize is not None and loop.time() >= recheck_at:
            await _recheck(authorize)
            recheck_at = loop.time() + TOKEN_RECHECK_SECONDS
        if message is None:
            continue
        event = live.decode(message.data)
        key = next(iter(event.items()))
        if key[0] in _DELIVERED_ONCE:
            if key in recent:
                continue
            recent[key] = None
            if len(recent) > RECENT_IDS:
                recent.popitem(last=False)
            if authorize is not None:  # nothing reaches a revoked token
                await _authorized(authorize)
                recheck_at = loop.time() + TOKEN_RECHECK_SECONDS
        yield event


async def _recheck(authorize: Authorize) -> None:
    """The periodic check: a revoked token ends the subscription; a check that
    could not be made (Redis and Postgres away) is retried next period."""
    try:
        await authorize()
    except ChirpError:
        raise
    except Exception:
        log.warning("could not re-check a live subscriber's token; retrying", exc_info=True)


async def _authorized(authorize: Authorize) -> None:
    """The check before a delivery: what cannot be checked is not delivered."""
    try:
        await authorize()
    except ChirpError:
        raise
    except Exception as exc:
        log.warning("could not check a live subscriber's token", exc_info=True)
        raise Interrupted(f"token check failed: {exc!r}") from exc


async def trend_lists(
    rt: Runtime, *, window: TrendWindow, first: int | None
) -> AsyncIterator[list[TrendRecord]]:
    """The window's top ``first`` now, then each time its tags or their order change."""
    size = trends.DEFAULT_TRENDS if first is None else check_first(first)
    shown: list[str] | None = None
    key = f"trends:{window.name}"
    with _client_errors():
        async with rt.broker.shared(key, lambda: _watch_trends(rt, window)) as lists:
            async for records in lists:
                top = records[:size]
                tags = [record.hashtag for record in top]
                if tags != shown:
                    shown = tags
                    yield top


async def _watch_trends(rt: Runtime, window: TrendWindow) -> AsyncIterator[list[TrendRecord]]:
    """One per process and window: the top list, recomputed when the worker
    signals a change (or the broker may have missed one), at most once per
    TRENDS_MIN_INTERVAL_SECONDS."""
    loop = asyncio.get_running_loop()
    async with rt.broker.subscribe([trends.channel(window)], signal=True) as signals:
        while True:
            computed_at = loop.time()
            yield await trends.top(rt, window=window, first=TRENDS_WATCHED)
            try:
                await asyncio.wait_for(anext(signals), TRENDS_REFRESH_SECONDS)
            except TimeoutError:
                continue
            # Rate limit, not synchronisation: signals arriving meanwhile
            # fold into the one recomputation that follows.
            await asyncio.sleep(max(0.0, computed_at + TRENDS_MIN_INTERVAL_SECONDS - loop.time()))
