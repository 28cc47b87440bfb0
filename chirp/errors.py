"""Errors that clients may see, each with its ``extensions.code`` from the contract.

Services raise these; the schema's error extension copies ``extensions`` onto
the GraphQL error. Any other exception is a bug: it is logged with the request
id and reaches the client only as ``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ChirpError(Exception):
    """Base of every client-facing error."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = {k: v for k, v in extensions.items() if v is not None}

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extra}


class Unauthenticated(ChirpError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "You must be logged in.") -> None:
        super().__init__(message)


class Forbidden(ChirpError):
    code = "FORBIDDEN"


class NotFound(ChirpError):
    code = "NOT_FOUND"


class BadUserInput(ChirpError):
    """Invalid input; ``field`` names the argument so forms can point at it."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)


class Conflict(ChirpError):
    code = "CONFLICT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)


class RateLimited(ChirpError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retryAfter=retry_after)


class EventsMissed(ChirpError):
    """A live subscription ended because it may have missed events: live
    delivery was interrupted (Redis restarted, lost its data, or the
    connection to it dropped). Not the client's doing, and not a bug, so
    neither ``RATE_LIMITED`` nor ``INTERNAL_SERVER_ERROR``: the client waits
    ``retryAfter`` seconds, subscribes again, and refetches what it shows."""

    code = "EVENTS_MISSED"

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            "Live updates were interrupted and some may have been missed: subscribe again "
            "and refetch.",
            retryAfter=retry_after,
        )


class PersistedQueryNotFound(ChirpError):
    """A persisted-query hash the server does not hold. The message and code are
    Apollo's, which clients match to resend the hash with its document."""

    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


INTERNAL_ERROR_MESSAGE = "Internal server error"
