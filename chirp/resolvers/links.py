"""Short links: lookups, ``shortenUrl``, and the fields of ShortLink (and Tweet.links)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from chirp.persistence.links import LinkRecord
from chirp.persistence.tweets import TweetRecord
from chirp.persistence.users import UserRecord
from chirp.resolvers import ChirpInfo
from chirp.services import links
from chirp.services.links import DayVisits

#: ``dailyVisits`` without ``days``: the last week, today included.
DEFAULT_DAILY_VISIT_DAYS = 7


async def short_link(info: ChirpInfo, code: str) -> LinkRecord | None:
    return await info.context.loaders.link_by_code.load(code)


async def shorten_url(
    info: ChirpInfo,
    url: str,
    alias: str | None = None,
    expires_at: datetime | None = None,
    max_visits: int | None = None,
) -> LinkRecord:
    ctx = info.context
    owner_id = await ctx.require_viewer_id()
    link = await links.shorten(
        ctx.rt,
        owner_id=owner_id,
        url=url,
        alias=alias,
        expires_at=expires_at,
        max_visits=max_visits,
    )
    # This process may hold a cached "not found" for a fresh alias; drop it.
    redirects = getattr(ctx.request.app.state, "redirects", None)
    if redirects is not None:
        redirects.forget(link.code)
    ctx.loaders.link_by_code.prime(link.code, link, force=True)
    return link


# Fields of ShortLink.


def short_url(root: strawberry.Parent[LinkRecord], info: ChirpInfo) -> str:
    return links.short_url(info.context.rt.settings, root.code)


async def owner(root: strawberry.Parent[LinkRecord], info: ChirpInfo) -> UserRecord | None:
    if root.owner_id is None:
        return None
    return await info.context.loaders.user_by_id.load(root.owner_id)


async def visit_count(root: strawberry.Parent[LinkRecord], info: ChirpInfo) -> int:
    return await info.context.loaders.visit_count_by_link.load(root.code)


async def daily_visits(
    root: strawberry.Parent[LinkRecord],
    info: ChirpInfo,
    days: int | None = DEFAULT_DAILY_VISIT_DAYS,
) -> list[DayVisits]:
    days = links.check_days(DEFAULT_DAILY_VISIT_DAYS if days is None else days)
    return await info.context.loaders.daily_visits_by_link.load((root.code, days))


# Fields of Tweet.


async def tweet_links(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> list[LinkRecord]:
    return await info.context.loaders.links_by_tweet.load(root.id)
