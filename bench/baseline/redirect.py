"""Baseline for ``redirect``: a bare Starlette route answering the same 302 from a dict.

No cache tiers, no visit counting, no request-id middleware: the floor for a
Python redirect under uvicorn. ``/graphql`` implements just ``signUp``,
``logIn`` and ``shortenUrl`` so the scenario's setup runs unchanged.

Serve with ``uvicorn bench.baseline.redirect:app``.
"""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

from bench.baseline import EXTENSIONS
from bench.baseline.viewer import Mutation as AccountMutation
from bench.baseline.viewer import Query, readyz

#: code -> target URL: the whole "database".
TARGETS: dict[str, str] = {}
_HEADERS = {"cache-control": "private, max-age=0"}


@strawberry.type
class ShortLink:
    code: str
    target_url: str


@strawberry.type
class Mutation(AccountMutation):
    @strawberry.mutation
    def shorten_url(self, url: str) -> ShortLink:
        code = f"c{len(TARGETS):09d}"
        TARGETS[code] = url
        return ShortLink(code=code, target_url=url)


async def redirect(request: Request) -> Response:
    target = TARGETS.get(request.path_params["code"])
    if target is None:
        return Response(b"Not found\n", 404, headers=_HEADERS)
    return Response(status_code=302, headers={"location": target, **_HEADERS})


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=EXTENSIONS)

app = Starlette(
    routes=[
        Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
        Route("/s/{code}", redirect, methods=["GET", "HEAD"]),
        Route("/readyz", readyz),
    ]
)
