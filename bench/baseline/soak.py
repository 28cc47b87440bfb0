"""Baseline for ``soak``: the DeathStarBench mix served from memory.

The ``home-feed`` and ``user-timeline`` baselines' queries in one schema, with
the same response shapes as Chirp's, plus a ``postTweet`` that puts the new
tweet at the head of its author's in-memory timeline. Each timeline keeps its
newest ``TWEETS_PER_USER`` tweets, so the app holds a bounded amount of data
however long it runs: its memory and latency over time are those of
Strawberry, Starlette and uvicorn under the same load, which is what Chirp's
drift is compared with. ``signUp``/``logIn`` come from the ``viewer`` baseline.

Serve with ``uvicorn bench.baseline.soak:app``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

from bench.baseline import EXTENSIONS
from bench.baseline.home_feed import FEEDS
from bench.baseline.user_timeline import (
    TWEETS_PER_USER,
    USERS_BY_HANDLE,
    TimelineOwner,
    Tweet,
    TweetConnection,
)
from bench.baseline.viewer import STORE, readyz
from bench.baseline.viewer import Mutation as AccountMutation

_TWEET_IDS = count(1)


@strawberry.type
class Query:
    @strawberry.field
    def home_feed(self, info: Info, first: int = 20) -> TweetConnection:
        header: str = info.context["request"].headers.get("authorization", "")
        user = STORE.tokens.get(header.partition(" ")[2].strip())
        feed = FEEDS[int(user.id) % len(FEEDS)] if user else FEEDS[0]
        return feed.tweets(first=first)

    @strawberry.field
    def user(self, handle: str) -> TimelineOwner | None:
        return USERS_BY_HANDLE.get(handle.lower())


@strawberry.type
class Mutation(AccountMutation):
    @strawberry.mutation
    def post_tweet(self, info: Info, text: str) -> Tweet:
        header: str = info.context["request"].headers.get("authorization", "")
        account = STORE.tokens.get(header.partition(" ")[2].strip())
        if account is None:
            raise PermissionError("You must be logged in.")
        owner = USERS_BY_HANDLE.get(account.handle.lower())
        if owner is None:
            raise LookupError(f"no timeline for {account.handle}")
        head = owner.tweet_list[0]
        tweet = Tweet(
            id=strawberry.ID(f"P_{next(_TWEET_IDS)}"),
            text=text,
            created_at=datetime.now(UTC),
            like_count=0,
            retweet_count=0,
            reply_count=0,
            viewer_has_liked=False,
            viewer_has_retweeted=False,
            author=head.author,
        )
        owner.tweet_list[:] = [tweet, *owner.tweet_list[: TWEETS_PER_USER - 1]]
        return tweet


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=EXTENSIONS)

app = Starlette(
    routes=[
        Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
        Route("/readyz", readyz),
    ]
)
