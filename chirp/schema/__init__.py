"""The Strawberry schema: one module per domain, merged into Query and Mutation."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult

from chirp.resolvers import nodes
from chirp.schema.errors import coded, log_unexpected
from chirp.schema.feeds import FeedQuery, FeedSubscription
from chirp.schema.guards import DOCUMENT_CACHE_SIZE, MAX_QUERY_TOKENS, GuardedValidation
from chirp.schema.links import LinkMutation, LinkQuery
from chirp.schema.node import Node
from chirp.schema.notifications import (
    Notification,
    NotificationMutation,
    NotificationQuery,
    NotificationSubscription,
)
from chirp.schema.trends import TrendQuery, TrendSubscription
from chirp.schema.tweets import Tweet, TweetMutation, TweetQuery
from chirp.schema.users import User, UserMutation, UserQuery

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


@strawberry.type
class NodeQuery:
    node: Node | None = strawberry.field(
        resolver=nodes.node, description="Any object by its global id."
    )


Query = merge_types(
    "Query",
    (UserQuery, TweetQuery, FeedQuery, NotificationQuery, TrendQuery, LinkQuery, NodeQuery),
)
Mutation = merge_types(
    "Mutation", (UserMutation, TweetMutation, NotificationMutation, LinkMutation)
)
Subscription = merge_types(
    "Subscription", (FeedSubscription, NotificationSubscription, TrendSubscription)
)


class ChirpSchema(strawberry.Schema):
    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Give every error its code. Done here, not in an extension hook, because
        some errors (syntax errors) are raised through the operation hooks and
        only turned into a result by ``execute`` itself."""
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [coded(error) for error in result.errors]
        return result

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        """The same for websocket operations, one streamed result at a time."""
        results = await super().stream(*args, **kwargs)
        return _coded_stream(results)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log only what is a bug; client errors are expected and not worth a traceback."""
        log_unexpected(errors)


async def _coded_stream(results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    async with aclosing(results):
        async for result in results:
            if getattr(result, "errors", None):
                result.errors = [coded(error) for error in result.errors]
            yield result


schema = ChirpSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Tweet, Notification],
    # Factories: Strawberry builds fresh extensions per operation (the caches
    # themselves are shared at module level).
    extensions=[
        partial(MaxTokensLimiter, max_token_count=MAX_QUERY_TOKENS),
        partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        GuardedValidation,
    ],
)


def printed_schema() -> str:
    return schema.as_str() + "\n"
