"""The per-request GraphQL context: runtime, loaders, and the viewer behind the token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from chirp.errors import Unauthenticated
from chirp.loaders import Loaders
from chirp.runtime import Runtime
from chirp.services import accounts


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; '' when malformed."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@dataclass
class Context:
    rt: Runtime
    request: HTTPConnection
    response: Response | None
    #: None without credentials; a string (possibly invalid) when some were sent.
    token: str | None
    connection_params: dict[str, Any] = field(default_factory=dict)
    loaders: Loaders = field(init=False)
    _viewer: asyncio.Future[int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.rt, viewer_id=self.viewer_id)

    async def viewer_id(self) -> int | None:
        """The logged-in user's id; None when no token was sent.

        A token that was sent but is not live is ``UNAUTHENTICATED`` rather than
        anonymous, so a client with a revoked token learns it must log in again.
        """
        if self.token is None:
            return None
        if self._viewer is None:
            self._viewer = asyncio.ensure_future(accounts.authenticate(self.rt, token=self.token))
        return await asyncio.shield(self._viewer)

    async def require_viewer_id(self) -> int:
        viewer_id = await self.viewer_id()
        if viewer_id is None:
            raise Unauthenticated()
        return viewer_id
