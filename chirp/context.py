"""The per-request GraphQL context: runtime, loaders, and the viewer behind the token.

Over HTTP a context lives for one request. Over a websocket Strawberry makes
one per *connection*: the token then comes from the ``connection_init``
payload, and each live event gets fresh loaders (:meth:`Context.fresh_loaders`)
so that nothing is served from a cache filled minutes earlier.

A connection can outlive its token (``logOut`` elsewhere), so over a websocket
the token is not trusted for the connection's life: each subscription checks
it afresh when it starts and before each delivery (``fresh=True``), and other
operations on the socket reuse a check for at most
``WEBSOCKET_AUTH_REUSE_SECONDS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from chirp.errors import BadUserInput, Unauthenticated
from chirp.loaders import Loaders
from chirp.runtime import Runtime
from chirp.services import accounts

#: Live subscriptions one websocket connection may hold at once. A screen
#: needs a handful (feed, notifications, trends); the cap bounds what one
#: socket can make the server hold.
MAX_SUBSCRIPTIONS_PER_CONNECTION: Final = 20
#: Over a websocket, one token check serves the fields and operations that
#: follow it for this long (a delivery's fields ask for the viewer many
#: times): a revoked token opens nothing on the socket for longer than this.
WEBSOCKET_AUTH_REUSE_SECONDS: Final = 1.0


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; '' when malformed."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _init_payload_token(params: dict[str, Any]) -> str | None:
    """The token of ``{"authorization": "Bearer <token>"}`` (any key case); ''
    when malformed, so a bad payload is UNAUTHENTICATED rather than anonymous."""
    values = [value for key, value in params.items() if key.lower() == "authorization"]
    if not values:
        return None
    return bearer_token(values[0]) if isinstance(values[0], str) else ""


@dataclass
class Context:
    rt: Runtime
    request: HTTPConnection
    response: Response | None
    #: From the Authorization header: None without one; a string (possibly
    #: invalid) when one was sent.
    token: str | None
    #: The websocket ``connection_init`` payload (set by Strawberry).
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)
    subscriptions: int = 0
    _viewer: asyncio.Future[int] | None = field(default=None, repr=False)
    #: Loop time of the check behind ``_viewer``.
    _viewer_checked_at: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.rt, viewer_id=self.viewer_id)

    async def viewer_id(self, *, fresh: bool = False) -> int | None:
        """The logged-in user's id; None when no token was sent.

        A token that was sent but is not live is ``UNAUTHENTICATED`` rather than
        anonymous, so a client with a revoked token learns it must log in again.
        ``fresh`` checks the token now rather than reusing an earlier check.
        """
        token = self.token
        if token is None and self.connection_params:
            token = _init_payload_token(self.connection_params)
        if token is None:
            return None
        now = asyncio.get_running_loop().time()
        if fresh or self._viewer is None or self._check_expired(now):
            self._viewer = asyncio.ensure_future(accounts.authenticate(self.rt, token=token))
            self._viewer_checked_at = now
        return await asyncio.shield(self._viewer)

    def _check_expired(self, now: float) -> bool:
        """An HTTP request's check lasts the request; a websocket's, a moment."""
        return (
            isinstance(self.request, WebSocket)
            and now - self._viewer_checked_at > WEBSOCKET_AUTH_REUSE_SECONDS
        )

    async def require_viewer_id(self, *, fresh: bool = False) -> int:
        viewer_id = await self.viewer_id(fresh=fresh)
        if viewer_id is None:
            raise Unauthenticated()
        return viewer_id

    def fresh_loaders(self) -> Loaders:
        """New, empty loaders (for each event of a long-lived subscription)."""
        self.loaders = Loaders(self.rt, viewer_id=self.viewer_id)
        return self.loaders

    @asynccontextmanager
    async def subscription_slot(self) -> AsyncIterator[None]:
        """Hold one of the connection's subscription slots while the block runs."""
        if self.subscriptions >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise BadUserInput(
                f"A connection holds at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} "
                "subscriptions; complete one first."
            )
        self.subscriptions += 1
        try:
            yield
        finally:
            self.subscriptions -= 1
