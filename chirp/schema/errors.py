"""Every error a client sees carries ``extensions.code``; unexpected ones are masked.

``ChirpError`` subclasses keep their message and code. Errors graphql-core
raises about the document or the variables (syntax, validation, the query
guards, wrong variable types) are the client's: ``BAD_USER_INPUT``. Anything
else is a bug: logged with its traceback and request id, and answered with
``INTERNAL_SERVER_ERROR`` and nothing of the original message.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError

from chirp.errors import INTERNAL_ERROR_MESSAGE, BadUserInput, ChirpError
from chirp.request_id import request_id

log = logging.getLogger("chirp.errors")


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return not (original is None or isinstance(original, (ChirpError, GraphQLError)))


def log_unexpected(errors: list[GraphQLError]) -> None:
    for error in errors:
        if is_unexpected(error):
            log.error(
                "unhandled error at %s",
                ".".join(map(str, error.path or ())) or "operation",
                exc_info=error.original_error,
            )


def coded(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, ChirpError):
        extensions = original.extensions
        message = original.message
    elif is_unexpected(error):
        extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id.get()}
        message = INTERNAL_ERROR_MESSAGE
    else:
        extensions = {"code": BadUserInput.code}
        message = error.message
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), **extensions},
    )
