"""Home feeds in the schema; pages of ``Tweet`` like every other tweet list."""

from __future__ import annotations

import strawberry

from chirp.resolvers import feeds
from chirp.schema.pagination import Connection
from chirp.schema.tweets import Tweet


@strawberry.type
class FeedQuery:
    home_feed: Connection[Tweet] = strawberry.field(
        resolver=feeds.home_feed,
        description="The viewer's tweets and retweets and those of everyone they follow, "
        "newest first, reaching back 800 entries. Requires a token.",
    )


@strawberry.type
class FeedSubscription:
    home_feed: Tweet = strawberry.subscription(
        resolver=feeds.live_home_feed,
        description="Every tweet that enters the viewer's home feed from now on, celebrities' "
        'included. Requires a token (`{"authorization": "Bearer <token>"}` in the '
        "connection_init payload).",
    )
