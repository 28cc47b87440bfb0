"""The Starlette app: ``/graphql`` (HTTP and websockets), ``/healthz`` and ``/readyz``.

``create_app(settings)`` opens its own :class:`Runtime` in the lifespan;
``create_app(runtime=...)`` borrows one that the caller owns (tests share one
runtime across many apps).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from chirp.config import Settings
from chirp.context import Context, bearer_token
from chirp.graphiql import graphiql_page, graphiql_routes
from chirp.redirects import redirect_routes
from chirp.request_id import RequestIdMiddleware
from chirp.runtime import Runtime, open_runtime
from chirp.schema import schema
from chirp.services.redirects import Redirects
from chirp.workers.visits import running_flusher

log = logging.getLogger(__name__)

#: A dependency that does not answer a trivial query within this is not ready.
READY_CHECK_TIMEOUT_SECONDS = 2.0
#: Websocket keep-alive: a ping (graphql-transport-ws) or "ka" (graphql-ws)
#: this often keeps idle sockets open through proxies that cut silent
#: connections (commonly after 60 s) and lets clients notice a dead server.
KEEP_ALIVE_SECONDS = 15.0
#: A socket that has not sent connection_init by then is closed (4408).
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)


class PingingTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with server pings; Strawberry only answers the client's."""

    _pinger: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping(), name="ws-keep-alive")

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(KEEP_ALIVE_SECONDS)
            await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pinger
        await super().shutdown()


class ChirpGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = PingingTransportWSHandler

    async def execute_single(
        self, request: Any, request_adapter: AsyncHTTPRequestAdapter, *args: Any, **kwargs: Any
    ) -> Any:
        """A mutation over GET is 405, as the GraphQL-over-HTTP spec asks (not 400)."""
        try:
            return await super().execute_single(request, request_adapter, *args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, exc.reason) from exc
            raise

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page(request)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        rt: Runtime = request.app.state.runtime
        return Context(
            rt=rt,
            request=request,
            response=response if isinstance(response, Response) else None,
            token=bearer_token(request.headers.get("authorization")),
        )


async def healthz(_request: Request) -> Response:
    """The process is alive (no dependency is checked)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Postgres, Redis and the graph each answer; 503 naming those that do not."""
    rt: Runtime = request.app.state.runtime
    checks: dict[str, Callable[[], Awaitable[Any]]] = {
        "postgres": rt.db.ping,
        "redis": rt.redis.ping,
        "graph": rt.graph.ping,
    }
    results = await asyncio.gather(*(_check(name, fn) for name, fn in checks.items()))
    status = dict(results)
    ready = all(value == "ok" for value in status.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": status},
        status_code=200 if ready else 503,
    )


async def _check(name: str, probe: Callable[[], Awaitable[Any]]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), READY_CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means not ready; say which kind
        log.warning("readiness check %s failed: %r", name, exc)
        return name, f"unavailable ({type(exc).__name__})"
    return name, "ok"


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Starlette:
    settings = settings or (runtime.settings if runtime is not None else Settings())
    redirects = Redirects()  # this process's link cache and visit counts

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.redirects = redirects
        if runtime is not None:
            app.state.runtime = runtime
            async with redirects.running(runtime):
                yield
            return
        async with (
            open_runtime(settings) as rt,
            running_flusher(rt),  # every app process counts visits, so each flushes
            redirects.running(rt),
        ):
            app.state.runtime = rt
            if not rt.settings.workers_in_process:
                yield
                return
            from chirp.workers.runner import running_workers

            async with running_workers(rt):
                yield

    graphql = ChirpGraphQL(
        schema,
        graphql_ide="graphiql",
        keep_alive=True,
        keep_alive_interval=KEEP_ALIVE_SECONDS,
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        # Subscriptions are limited per connection with a coded error (Context);
        # Strawberry's own limit would answer without a code.
        max_subscriptions_per_connection=None,
        # Any origin: websocket auth is the token in connection_init, never a
        # cookie, so another site's page cannot ride on a user's session.
        allowed_origins=["*"],
    )
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *graphiql_routes(),
            *redirect_routes(settings.short_link_prefix, redirects),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=lifespan,
    )
