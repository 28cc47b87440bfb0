"""Baseline for the websocket scenarios (``delivery``, ``idle-sockets``).

A bare Strawberry app with the same websocket handlers Chirp uses: ``signUp``
and ``follow`` in memory, ``postTweet`` hands the tweet straight to the
queue of each subscribed follower, and ``Subscription.homeFeed`` yields from
that queue. No Redis, no worker, no pub/sub: the floor for live delivery.

Serve with ``uvicorn bench.baseline.live:app``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from itertools import count

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.types import Info

from bench.baseline import EXTENSIONS


@strawberry.type
class User:
    id: strawberry.ID
    handle: str


@strawberry.type
class Tweet:
    id: strawberry.ID
    text: str
    author: User


@strawberry.type
class AuthPayload:
    token: str
    user: User


@dataclass
class _Store:
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, User] = field(default_factory=dict)
    followers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    queues: dict[str, set[asyncio.Queue[Tweet]]] = field(default_factory=lambda: defaultdict(set))
    ids: count[int] = field(default_factory=count)


STORE = _Store()


def _viewer(info: Info) -> User:
    context = info.context
    params = context.get("connection_params") or {}
    header = params.get("authorization") or context["request"].headers.get("authorization", "")
    user = STORE.tokens.get(header.partition(" ")[2].strip())
    if user is None:
        raise PermissionError("UNAUTHENTICATED")
    return user


@strawberry.type
class Query:
    @strawberry.field
    def viewer(self, info: Info) -> User:
        return _viewer(info)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def sign_up(self, handle: str, password: str) -> AuthPayload:
        user = STORE.users.setdefault(handle, User(id=strawberry.ID(handle), handle=handle))
        token = secrets.token_urlsafe(32)
        STORE.tokens[token] = user
        return AuthPayload(token=token, user=user)

    @strawberry.mutation
    def follow(self, info: Info, user_id: strawberry.ID) -> User:
        STORE.followers[user_id].add(_viewer(info).id)
        return STORE.users[user_id]

    @strawberry.mutation
    def post_tweet(self, info: Info, text: str) -> Tweet:
        author = _viewer(info)
        tweet = Tweet(id=strawberry.ID(str(next(STORE.ids))), text=text, author=author)
        for reader in (author.id, *STORE.followers[author.id]):
            for queue in STORE.queues[reader]:
                queue.put_nowait(tweet)
        return tweet


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def home_feed(self, info: Info) -> AsyncGenerator[Tweet, None]:
        viewer = _viewer(info)
        queue: asyncio.Queue[Tweet] = asyncio.Queue()
        STORE.queues[viewer.id].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            STORE.queues[viewer.id].discard(queue)


schema = strawberry.Schema(
    query=Query, mutation=Mutation, subscription=Subscription, extensions=EXTENSIONS
)


async def readyz(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


graphql = GraphQL(schema)
app = Starlette(
    routes=[
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/readyz", readyz),
    ]
)
