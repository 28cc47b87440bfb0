"""Trends and the hashtag feed: public, no token needed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from chirp.pagination import DEFAULT_PAGE_SIZE, Page
from chirp.persistence.tweets import TweetRecord
from chirp.resolvers import ChirpInfo
from chirp.services import hashtags, live, trends
from chirp.services.trends import DEFAULT_TRENDS, TrendRecord, TrendWindow


async def trending(
    info: ChirpInfo,
    window: TrendWindow | None = TrendWindow.HOUR,
    first: int | None = DEFAULT_TRENDS,
) -> list[TrendRecord]:
    return await trends.top(info.context.rt, window=window or TrendWindow.HOUR, first=first)


async def hashtag_feed(
    info: ChirpInfo, tag: str, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
) -> Page[TweetRecord]:
    ctx = info.context
    page = await hashtags.hashtag_feed(ctx.rt, tag=tag, first=first, after=after)
    ctx.loaders.tweet_by_id.prime_records([edge.node for edge in page.edges])
    return page


async def live_trends(
    info: ChirpInfo,
    window: TrendWindow | None = TrendWindow.HOUR,
    first: int | None = DEFAULT_TRENDS,
) -> AsyncGenerator[list[TrendRecord], None]:
    ctx = info.context
    async with ctx.subscription_slot():
        lists = live.trend_lists(ctx.rt, window=window or TrendWindow.HOUR, first=first)
        async with aclosing(lists):
            async for records in lists:
                yield records
