"""Baseline for ``user-timeline``: a user's tweets with authors, counts and flags, from memory.

The same query and response shape as Chirp's (``user(handle) { tweets(first) {
edges { cursor node { ... author { ... } } } pageInfo } }``), resolved from dicts
built at import, so the ratio shows what Chirp's storage and batching cost on
top of plain Strawberry. ``signUp``/``logIn`` come from the ``viewer`` baseline.

Serve with ``uvicorn bench.baseline.user_timeline:app``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from bench.baseline import EXTENSIONS
from bench.baseline.viewer import Mutation, readyz

#: The reed98 seed's users, and tweets kept per user (a page is at most 20).
USERS = 962
TWEETS_PER_USER = 20
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@strawberry.type
class Author:
    id: strawberry.ID
    handle: str
    display_name: str
    follower_count: int
    viewer_follows: bool


@strawberry.type
class Tweet:
    id: strawberry.ID
    text: str
    created_at: datetime
    like_count: int
    retweet_count: int
    reply_count: int
    viewer_has_liked: bool
    viewer_has_retweeted: bool
    author: Author


@strawberry.type
class TweetEdge:
    cursor: str
    node: Tweet


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TweetConnection:
    edges: list[TweetEdge]
    page_info: PageInfo


@strawberry.type
class TimelineOwner:
    """``User`` in Chirp; renamed because the imported Mutation defines ``User``."""

    id: strawberry.ID
    handle: str
    tweet_list: strawberry.Private[list[Tweet]]

    @strawberry.field
    def tweets(self, first: int = 20) -> TweetConnection:
        edges = [
            TweetEdge(cursor=base64.urlsafe_b64encode(t.id.encode()).decode(), node=t)
            for t in self.tweet_list[:first]
        ]
        return TweetConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(self.tweet_list) > first,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


def _build() -> dict[str, TimelineOwner]:
    users = {}
    for n in range(USERS):
        author = Author(
            id=strawberry.ID(f"U_{n}"),
            handle=f"user_{n}",
            display_name=f"Reed User {n}",
            follower_count=40,
            viewer_follows=n % 2 == 0,
        )
        tweets = [
            Tweet(
                id=strawberry.ID(f"T_{n}_{i}"),
                text=f"tweet {i} of user {n} with #hashtag and a link https://example.com/{i}",
                created_at=_EPOCH - timedelta(minutes=n * TWEETS_PER_USER + i),
                like_count=i,
                retweet_count=i // 2,
                reply_count=i // 3,
                viewer_has_liked=i % 3 == 0,
                viewer_has_retweeted=False,
                author=author,
            )
            for i in range(TWEETS_PER_USER)
        ]
        users[author.handle] = TimelineOwner(id=author.id, handle=author.handle, tweet_list=tweets)
    return users


USERS_BY_HANDLE = _build()


@strawberry.type
class Query:
    @strawberry.field
    def user(self, handle: str) -> TimelineOwner | None:
        return USERS_BY_HANDLE.get(handle.lower())


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=EXTENSIONS)

app = Starlette(
    routes=[
        Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
        Route("/readyz", readyz),
    ]
)
