"""Home feed: check auth, call the feed service, hydrate through the request's loaders."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial

from chirp.pagination import DEFAULT_PAGE_SIZE, Page
from chirp.persistence.tweets import TweetRecord
from chirp.resolvers import ChirpInfo
from chirp.services import feeds, live


async def home_feed(
    info: ChirpInfo, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
) -> Page[TweetRecord]:
    ctx = info.context
    viewer_id = await ctx.require_viewer_id()
    return await feeds.home_feed(
        ctx.rt,
        user_id=viewer_id,
        first=first,
        after=after,
        load_tweets=ctx.loaders.tweet_by_id.load_many,
    )


async def live_home_feed(info: ChirpInfo) -> AsyncGenerator[TweetRecord, None]:
    """Checks the token now (the socket's earlier check may predate a logOut),
    and the live service checks it again before each delivery."""
    ctx = info.context
    viewer_id = await ctx.require_viewer_id(fresh=True)
    authorize = partial(ctx.require_viewer_id, fresh=True)
    async with ctx.subscription_slot():
        feed = live.home_feed(ctx.rt, user_id=viewer_id, authorize=authorize)
        async with aclosing(feed) as tweet_ids:
            async for tweet_id in tweet_ids:
                delivered = await live.delivered_tweet(ctx.rt, tweet_id=tweet_id)
                if delivered.tweet is None:  # deleted since
                    continue
                loaders = ctx.fresh_loaders()
                loaders.tweet_by_id.prime_records([delivered.tweet])
                if delivered.author is not None:
                    loaders.user_by_id.prime_record(delivered.author)
                yield delivered.tweet
