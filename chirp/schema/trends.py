"""Trends and hashtag feeds in the schema."""

from __future__ import annotations

import strawberry

from chirp.resolvers import trends as resolvers
from chirp.schema.pagination import Connection
from chirp.schema.tweets import Tweet
from chirp.services.trends import TrendWindow

strawberry.enum(
    TrendWindow,
    description="How fast uses fade: HOUR and DAY halve a use's weight every "
    "hour and every day (by default), and count one use per author per hour or day.",
)


@strawberry.type(description="A trending hashtag.")
class Trend:
    hashtag: str = strawberry.field(description="Lower-cased, without `#`.")
    score: float = strawberry.field(
        description="Sum of the uses' weights: 1 when fresh, halved every half-life."
    )
    tweet_count: int = strawberry.field(
        description="Uses counted in the last window length (at most one per author)."
    )


@strawberry.type
class TrendQuery:
    trends: list[Trend] = strawberry.field(
        resolver=resolvers.trending,
        description="Hashtags by time-decayed use, highest first; one use per author per "
        "window, so one account cannot trend a tag alone.",
    )
    hashtag_feed: Connection[Tweet] = strawberry.field(
        resolver=resolvers.hashtag_feed,
        description="Tweets carrying the tag, newest first. Any case, `#` optional.",
    )


@strawberry.type
class TrendSubscription:
    trends: list[Trend] = strawberry.subscription(
        resolver=resolvers.live_trends,
        description="The top `first` trends now, then again whenever their hashtags or "
        "their order change (at most once a second). Public.",
    )
