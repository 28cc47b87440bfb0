"""Baseline for the ``viewer`` scenario: ``{ viewer { ... } }`` from memory.

Implements just enough of the Chirp contract for the scenario's setup to run
unchanged against it (``signUp`` and ``logIn`` return an in-memory token) and
for ``viewer`` to resolve a fixed user for a valid bearer token, so the
measured request and response are byte-for-byte the same shape as Chirp's.

Serve with ``uvicorn bench.baseline.viewer:app``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

from bench.baseline import EXTENSIONS

#: Bytes of randomness in a baseline token; the same order as a real session token.
TOKEN_BYTES = 32


@strawberry.type
class User:
    """The scalar part of the contract's ``User`` type."""

    id: strawberry.ID
    handle: str
    display_name: str
    bio: str
    created_at: datetime
    follower_count: int
    following_count: int
    tweet_count: int
    viewer_follows: bool
    follows_viewer: bool
    unread_notification_count: int | None


@strawberry.type
class AuthPayload:
    """What ``signUp`` and ``logIn`` return."""

    token: str
    user: User


@dataclass
class _Store:
    """The in-memory "database": users by handle and the owner of each token."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, User] = field(default_factory=dict)

    def user(self, handle: str, display_name: str | None) -> User:
        key = handle.lower()
        if key not in self.users:
            self.users[key] = User(
                id=strawberry.ID(str(len(self.users) + 1)),
                handle=handle,
                display_name=display_name or handle,
                bio="",
                created_at=datetime.now(UTC),
                follower_count=0,
                following_count=0,
                tweet_count=0,
                viewer_follows=False,
                follows_viewer=False,
                unread_notification_count=0,
            )
        return self.users[key]

    def issue(self, user: User) -> AuthPayload:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.tokens[token] = user
        return AuthPayload(token=token, user=user)


STORE = _Store()


def _viewer(info: Info) -> User | None:
    header: str = info.context["request"].headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return STORE.tokens.get(token.strip())


@strawberry.type
class Query:
    @strawberry.field
    def viewer(self, info: Info) -> User | None:
        return _viewer(info)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def sign_up(self, handle: str, password: str, display_name: str | None = None) -> AuthPayload:
        return STORE.issue(STORE.user(handle, display_name))

    @strawberry.mutation
    def log_in(self, handle: str, password: str) -> AuthPayload:
        return STORE.issue(STORE.user(handle, None))


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=EXTENSIONS)


async def readyz(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
        Route("/readyz", readyz),
    ]
)
