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

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from chirp import graphql_http
from chirp.config import Settings
from chirp.graphiql import graphiql_routes
from chirp.graphql_http import ChirpGraphQL
from chirp.redirects import redirect_routes
from chirp.request_id import RequestIdMiddleware
from chirp.runtime import Runtime, open_runtime
from chirp.schema import schema
from chirp.services.persisted_queries import PersistedQueries
from chirp.services.redirects import Redirects
from chirp.workers.visits import running_flusher

log = logging.getLogger(__name__)

#: A dependency that does not answer a trivial query within this is not ready.
READY_CHECK_TIMEOUT_SECONDS = 2.0
#: A socket that has not sent connection_init by then is closed (4408).
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
#: How long a browser may cache a CORS preflight answer.
CORS_MAX_AGE_SECONDS = 600


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
        keep_alive_interval=graphql_http.KEEP_ALIVE_SECONDS,
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        # Subscriptions are limited per connection with a coded error (Context);
        # Strawberry's own limit would answer without a code.
        max_subscriptions_per_connection=None,
        # Pages of other sites may open a socket only from a configured origin
        # (same-origin pages and clients sending no Origin always may).
        allowed_origins=settings.cors_origin_list,
        persisted_queries=PersistedQueries(),
    )
    middleware = [Middleware(RequestIdMiddleware)]
    if settings.cors_origin_list:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type"],
                expose_headers=["x-request-id"],
                max_age=CORS_MAX_AGE_SECONDS,
            )
        )
    return Starlette(
        routes=[
            # Every method reaches the view, which answers a coded 405 itself.
            Route("/graphql", graphql, methods=None),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *graphiql_routes(),
            *redirect_routes(settings.short_link_prefix, redirects),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
