"""Baseline for ``trends``: the top hashtags served from memory.

Takes the scenario's setup unchanged (``signUp`` from the viewer baseline,
``postTweet`` recording hashtags) and answers ``trends(first:)`` with the same
shape as Chirp, from a list kept sorted as tweets arrive: no decay, no Redis,
just Strawberry and Starlette.

Serve with ``uvicorn bench.baseline.trends:app``.
"""

from __future__ import annotations

import re
from collections import Counter

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from bench.baseline import EXTENSIONS
from bench.baseline.viewer import STORE, AuthPayload, readyz

_HASHTAG = re.compile(r"(?<![\w#&])#(\w+)")
_USES: Counter[str] = Counter()


@strawberry.type
class Trend:
    hashtag: str
    score: float
    tweet_count: int


_TOP: list[Trend] = []


@strawberry.type
class Posted:
    id: strawberry.ID
    text: str


@strawberry.type
class Query:
    @strawberry.field
    def trends(self, window: str | None = None, first: int = 10) -> list[Trend]:
        return _TOP[:first]


@strawberry.type
class Mutation:
    @strawberry.mutation
    def sign_up(self, handle: str, password: str, display_name: str | None = None) -> AuthPayload:
        return STORE.issue(STORE.user(handle, display_name))

    @strawberry.mutation
    def post_tweet(self, text: str) -> Posted:
        _USES.update(tag.lower() for tag in set(_HASHTAG.findall(text)))
        _TOP[:] = [Trend(hashtag=t, score=float(n), tweet_count=n) for t, n in _USES.most_common()]
        return Posted(id=strawberry.ID(str(_USES.total())), text=text)


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=EXTENSIONS)

app = Starlette(
    routes=[
        Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
        Route("/readyz", readyz),
    ]
)
