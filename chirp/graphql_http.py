"""``/graphql`` over HTTP and websockets: Strawberry's ASGI view, held to the
GraphQL-over-HTTP spec.

- The response is ``application/graphql-response+json`` when the client's
  ``Accept`` prefers it, with the spec's status codes: a request that fails
  before execution (bad JSON, bad parameters, a syntax or validation error)
  is 4xx and carries no ``data``. ``application/json`` stays the default, and
  there every well-formed HTTP exchange is 200 with ``errors``, as the spec
  asks for that legacy type.
- Every error, transport-level ones included, is a JSON GraphQL error with an
  ``extensions.code``, never plain text.
- Queries run over GET and POST, mutations over POST only (405 otherwise);
  subscriptions need a websocket.
- Automatic persisted queries (:mod:`chirp.services.persisted_queries`).
- Websocket operations stop within a bound on both subprotocols: a task that
  ignores its cancellation (see ``chirp.runtime.RECANCEL_SECONDS``) is
  cancelled again, then abandoned with an error in the log, never awaited
  forever (that blocked the socket, and uvicorn's shutdown behind it). Every
  operation task's outcome is retrieved: none ends as "Task exception was
  never retrieved".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Final

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage,
    StartMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from chirp.context import Context, bearer_token
from chirp.errors import BadUserInput, ChirpError, PersistedQueryNotFound
from chirp.graphiql import graphiql_page
from chirp.runtime import Runtime, cancel_and_wait
from chirp.services.persisted_queries import PersistedQueries

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
APPLICATION_JSON: Final = "application/json"
#: Request bodies Chirp reads; anything else is 415.
REQUEST_MEDIA_TYPES: Final = frozenset({APPLICATION_JSON, GRAPHQL_RESPONSE_JSON})
#: Websocket keep-alive: a ping (graphql-transport-ws) or "ka" (graphql-ws)
#: this often keeps idle sockets open through proxies that cut silent
#: connections (commonly after 60 s) and lets clients notice a dead server.
KEEP_ALIVE_SECONDS: Final = 15.0
#: An operation's task gets this long to end once cancelled (it normally takes
#: a round trip or two to leave its channels), then it is abandoned and logged.
OPERATION_STOP_SECONDS: Final = 5.0
#: What sending to a socket the client already closed raises: expected when a
#: client goes away mid-operation, so logged at debug level, not as an error.
_PEER_GONE: Final = (WebSocketDisconnected, WebSocketDisconnect, OSError)

_ALLOWED_OPERATIONS: Final = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
#: A persisted-query miss must not be cached by a CDN: the next request of
#: the same URL may well find the document.
_UNCACHEABLE: Final = {"Cache-Control": "private, no-cache, must-revalidate"}


class RequestFailed(Exception):
    """A request refused before execution, answered as a coded GraphQL error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = BadUserInput(message, field=field)
        self.headers = dict(headers or {})


def negotiate(accept: str | None) -> str:
    """The response media type for an ``Accept`` header: the supported type
    with the highest quality, the first listed on a tie; ``application/json``
    when neither is named (no header, ``*/*``)."""
    best, best_quality = APPLICATION_JSON, 0.0
    for item in (accept or "").split(","):
        media_type, _, params = item.partition(";")
        media_type = media_type.strip().lower()
        if media_type not in REQUEST_MEDIA_TYPES:
            continue
        quality = _quality(params)
        if quality > best_quality:
            best, best_quality = media_type, quality
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def error_status(media_type: str, status: int) -> int:
    """``application/json`` answers 200 to a well-formed request whose GraphQL
    fails (the spec's rule for that legacy type); a malformed request (bad
    JSON, bad parameters, wrong method or body type) keeps its 4xx."""
    if media_type == APPLICATION_JSON and status not in (405, 415):
        return 200
    return status


async def _stop_tasks(tasks: list[asyncio.Task[Any]], *, protocol: str) -> None:
    """Cancel operation tasks and wait for them, bounded (never forever)."""
    stuck = await cancel_and_wait(tasks, seconds=OPERATION_STOP_SECONDS)
    for task in stuck:
        log.error(
            "%s operation task still running %.0f s after cancellation; abandoned: %r",
            protocol,
            OPERATION_STOP_SECONDS,
            task,
        )


def _observe(task: asyncio.Task[Any]) -> None:
    """Retrieve an operation task's outcome as it ends (even one nobody awaits):
    a closed socket is routine, anything else is logged as the bug it is."""
    if task.cancelled():
        return
    error = task.exception()
    if error is None:
        return
    if isinstance(error, _PEER_GONE) or (
        isinstance(error, RuntimeError) and "close" in str(error)  # sent after close
    ):
        log.debug("websocket operation ended with its socket: %r", error)
    else:
        log.error("websocket operation failed", exc_info=error)


class PingingTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with server pings (Strawberry only answers the
    client's) and a bounded shutdown."""

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
        """Strawberry's, except that operation tasks are awaited within a bound."""
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pinger
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.connection_init_timeout_task
        tasks = [op.task for op in self.operations.values() if op.task]
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)  # cancels, does not wait
        await _stop_tasks(tasks, protocol="graphql-transport-ws")


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """Legacy graphql-ws (subscriptions-transport-ws) with bounded stops.

    Strawberry's handler awaits a stopped operation's task with no bound, from
    the loop that reads the socket: one task that lost its cancellation kept
    the connection (and so uvicorn's shutdown) waiting forever. Its tasks also
    drop themselves from ``tasks`` when they end, so one that failed (sending
    to a closed socket) was never awaited by anyone.
    """

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """A repeated connection_init would start a second keep-alive task and
        orphan the first (looping until the socket dies, its error unseen)."""
        if self.keep_alive_task is not None:
            self.keep_alive_task.cancel()
            self.keep_alive_task = None
        await super().handle_connection_init(message)

    async def handle_start(self, message: StartMessage) -> None:
        await super().handle_start(message)
        task = self.tasks.get(message["id"])
        if task is not None:
            task.add_done_callback(_observe)

    async def cleanup_operation(self, operation_id: str) -> None:
        await self._stop([operation_id])

    async def cleanup(self) -> None:
        """All at once: a socket closing with many operations waits one bound."""
        await self._stop(list(self.tasks))

    async def _stop(self, operation_ids: list[str]) -> None:
        sources = [self.subscriptions.pop(op_id, None) for op_id in operation_ids]
        tasks = [task for op_id in operation_ids if (task := self.tasks.pop(op_id, None))]
        await _stop_tasks(tasks, protocol="graphql-ws")
        for source in sources:
            if source is not None:
                # Normally finished with its task; one still running refuses.
                with contextlib.suppress(Exception):
                    await source.aclose()


class ChirpGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = PingingTransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, *args: Any, persisted_queries: PersistedQueries, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.persisted_queries = persisted_queries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except RequestFailed as exc:  # not a well-formed GraphQL request: 4xx for both types
            response = self.error_response(
                request, exc.status, exc.error, exc.headers, malformed=True
            )
        except PersistedQueryNotFound as exc:
            response = self.error_response(request, 404, exc, _UNCACHEABLE)
        except ChirpError as exc:
            response = self.error_response(request, 400, exc)
        except HTTPException as exc:  # what Strawberry itself refuses
            response = self.error_response(request, exc.status_code, BadUserInput(exc.reason))
        await response(scope, receive, send)

    def error_response(
        self,
        request: Request,
        status: int,
        error: ChirpError,
        headers: Mapping[str, str] | None = None,
        *,
        malformed: bool = False,
    ) -> Response:
        media_type = negotiate(request.headers.get("accept"))
        body = {"errors": [{"message": error.message, "extensions": error.extensions}]}
        response = Response(
            self.encode_json(body),
            status_code=status if malformed else error_status(media_type, status),
            media_type=media_type,
            headers={"Vary": "Accept", **(headers or {})},
        )
        return response

    def is_request_allowed(self, request: Any) -> bool:
        if request.method not in _ALLOWED_OPERATIONS:
            raise RequestFailed(
                405, "Send GraphQL requests with GET or POST.", headers={"Allow": "GET, POST"}
            )
        return True

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A browser's page load: a GET asking for HTML with no operation in it
        (so an API client's GET of a persisted query is never answered with HTML)."""
        params = request.query_params
        return (
            request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
            and params.get("query") is None
            and params.get("extensions") is None
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page(request)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd nesting
            raise RequestFailed(400, "The request is not valid JSON.") from exc

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        if request.method == "GET":
            data: Any = self.parse_query_params(request.query_params)
        else:
            media_type, _ = parse_content_type(request.content_type or "")
            if media_type not in REQUEST_MEDIA_TYPES:
                raise RequestFailed(415, "Send the request body as application/json.")
            data = self.parse_json(await request.get_body())
        if isinstance(data, list):
            raise RequestFailed(400, "Batched requests are not supported: send one operation.")
        if not isinstance(data, dict):
            raise RequestFailed(400, "The request must be a JSON object.")
        return GraphQLRequestData(
            query=_parameter(data, "query", str),
            variables=_parameter(data, "variables", dict),
            operation_name=_parameter(data, "operationName", str),
            extensions=_parameter(data, "extensions", dict),
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        query = await self.persisted_queries.document(
            context.rt, query=request_data.query, extensions=request_data.extensions
        )
        try:
            return await self.schema.execute(
                query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=_ALLOWED_OPERATIONS[request_adapter.method],
                operation_extensions=request_data.extensions,
            )
        except MissingQueryError as exc:
            raise RequestFailed(400, "The request has no GraphQL query.", field="query") from exc
        except CannotGetOperationTypeError as exc:
            raise RequestFailed(400, exc.as_http_error_reason(), field="operationName") from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise RequestFailed(
                    400, "Subscriptions need a websocket (graphql-transport-ws) on /graphql."
                ) from exc
            raise RequestFailed(405, "Mutations need POST.", headers={"Allow": "POST"}) from exc

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """A request that failed before execution has no ``data`` entry (the
        GraphQL spec's rule); errors from execution always carry a path."""
        body = process_result(result)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            del body["data"]
        return body

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate(request.headers.get("accept"))
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        media_type = sub_response.media_type or APPLICATION_JSON
        status = sub_response.status_code or 200
        if "data" not in response_data:
            status = error_status(media_type, 400)
        response = Response(
            self.encode_json(response_data), status_code=status, media_type=media_type
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.headers["Vary"] = "Accept"
        response.background = sub_response.background
        return response

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


def _parameter(data: dict[str, Any], name: str, kind: type) -> Any:
    """One request parameter: absent, null, or of ``kind``."""
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        noun = "a string" if kind is str else "an object"
        raise RequestFailed(400, f"`{name}` must be {noun} or null.", field=name)
    return value
