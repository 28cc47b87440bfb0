"""GraphiQL served from Chirp itself (placeholder: being replaced by the vendored build)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute
from strawberry.http.ides import get_graphql_ide_html


def graphiql_page(request: Request) -> Response:
    """The GraphiQL page for a browser's GET of /graphql."""
    return HTMLResponse(get_graphql_ide_html("graphiql"))


def graphiql_routes() -> list[BaseRoute]:
    """Routes for the page's static assets."""
    return []
