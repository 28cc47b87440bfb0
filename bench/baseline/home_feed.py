"""Baseline for ``home-feed``: 20 tweets of followed users with authors, counts and flags.

Same query and response shape as Chirp's ``homeFeed(first: 20)``; each token
gets a feed merged from a few users' in-memory tweets (the user-timeline
baseline's data), built at import.

Serve with ``uvicorn bench.baseline.home_feed:app``.
"""

from __future__ import annotations

import heapq

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

from bench.baseline import EXTENSIONS
from bench.baseline.user_timeline import USERS_BY_HANDLE, TimelineOwner, Tweet, TweetConnection
from bench.baseline.viewer import STORE, Mutation, readyz

#: Users whose tweets make up each baseline feed (Reed98 users follow ~40).
FOLLOWED = 40


def _feed_for(n: int) -> TimelineOwner:
    """A pseudo-user whose 'tweets' are the newest of FOLLOWED users' tweets."""
    sources = [USERS_BY_HANDLE[f"user_{(n + k) % len(USERS_BY_HANDLE)}"] for k in range(FOLLOWED)]
    merged: list[Tweet] = heapq.nlargest(
        20, (t for owner in sources for t in owner.tweet_list), key=lambda t: t.created_at
    )
    return TimelineOwner(id=strawberry.ID(f"F_{n}"), handle=f"feed_{n}", tweet_list=merged)


FEEDS = [_feed_for(n) for n in range(100)]


@strawberry.type
class Query:
    @strawberry.field
    def home_feed(self, info: Info, first: int = 20) -> TweetConnection:
        header: str = info.context["request"].headers.get("authorization", "")
        user = STORE.tokens.get(header.partition(" ")[2].strip())
        feed = FEEDS[int(user.id) % len(FEEDS)] if user else FEEDS[0]
        return feed.tweets(first=first)


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=EXTENSIONS)

app = Starlette(
    routes=[
        Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
        Route("/readyz", readyz),
    ]
)
