"""The Starlette app: ``/graphql`` (HTTP and websockets), ``/healthz`` and ``/readyz``.

``create_app(settings)`` opens its own :class:`Runtime` in the lifespan;
``create_app(runtime=...)`` borrows one that the caller owns (tests share one
runtime across many apps).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, Final

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
from chirp.persistence.redis import probe
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
#: Without one of these the API cannot answer correctly: readiness is 503.
#: Redis is not among them (see ``readyz``).
SYSTEMS_OF_RECORD: Final = frozenset({"postgres", "graph"})
#: A socket that has not sent connection_init by then is closed (4408).
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
#: How long a browser may cache a CORS preflight answer.
CORS_MAX_AGE_SECONDS = 600


async def healthz(_request: Request) -> Response:
    """The process is alive (no dependency is checked)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Each dependency answers a trivial query, or is named with why not.

    - 200 ``ready``: all answer.
    - 200 ``degraded``: only Redis does not. Redis holds caches and derived
      data; Postgres is the record, so the API keeps serving (accounts, tweets,
      profiles) while feeds and live delivery wait for Redis, which the
      embedded supervisor restarts by itself. Taking the instance out of
      rotation would turn a partial outage into a full one (every instance
      shares the one Redis).
    - 503 ``unavailable``: a system of record (Postgres, the graph) does not.
    """
    rt: Runtime = request.app.state.runtime
    checks: dict[str, Callable[[], Awaitable[Any]]] = {
        "postgres": rt.db.ping,
        "redis": functools.partial(probe, rt.redis, seconds=READY_CHECK_TIMEOUT_SECONDS),
        "graph": rt.graph.ping,
    }
    results = await asyncio.gather(*(_check(name, fn) for name, fn in checks.items()))
    status = dict(results)
    down = {name for name, value in status.items() if value != "ok"}
    if down & SYSTEMS_OF_RECORD:
        verdict, code = "unavailable", 503
    elif down:
        verdict, code = "degraded", 200
    else:
        verdict, code = "ready", 200
    return JSONResponse({"status": verdict, "checks": status}, status_code=code)


async def _check(name: str, ping: Callable[[], Awaitable[Any]]) -> tuple[str, str]:
    """``ok``, or ``unavailable (<error>)`` within READY_CHECK_TIMEOUT_SECONDS.

    A probe that times out is cancelled but not waited for: cancelling a
    query on a frozen Postgres waits for Postgres (asyncpg sends it a cancel
    request), so ``wait_for`` would hold readiness up as long as the outage.
    """
    probe = asyncio.ensure_future(ping())
    try:
        await asyncio.wait({probe}, timeout=READY_CHECK_TIMEOUT_SECONDS)
    finally:
        if not probe.done():
            probe.cancel()
            probe.add_done_callback(_retrieve)
    error: BaseException = TimeoutError()
    if probe.done() and not probe.cancelled():
        if (failure := probe.exception()) is None:
            return name, "ok"
        error = failure
    log.warning("readiness check %s failed: %r", name, error)
    return name, f"unavailable ({type(error).__name__})"


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Consume an abandoned probe's outcome (it was already reported)."""
    if not task.cancelled():
        task.exception()


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
