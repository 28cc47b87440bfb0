"""Neo4j (production) behind the ``GraphDriver`` protocol.

Every statement runs in a managed transaction (``execute_read`` /
``execute_write``): the driver retries it on transient errors and leader
changes, and read statements are routed to followers/read replicas of a
cluster (``neo4j://`` URI). All statements in ``chirp.graph.cypher`` are
idempotent, which managed-transaction retries require.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import neo4j

from chirp.graph import cypher


class Neo4jDriver:
    """``GraphDriver`` over the official async Neo4j driver."""

    def __init__(self, driver: neo4j.AsyncDriver, *, database: str | None = None) -> None:
        self._driver = driver
        self._database = database
        self.round_trips = 0

    @classmethod
    def connect(
        cls, uri: str, *, user: str, password: str, database: str | None = None
    ) -> Neo4jDriver:
        """Create the driver; it connects lazily (``ping`` checks the server)."""
        driver = neo4j.AsyncGraphDatabase.driver(uri, auth=(user, password))
        return cls(driver, database=database)

    def _session(self) -> neo4j.AsyncSession:
        # Sharing the driver-wide bookmark manager chains every session
        # causally: a read routed to a replica waits until it has seen this
        # process's earlier writes (follow, then list followers, must agree).
        return self._driver.session(
            database=self._database,
            bookmark_manager=self._driver.execute_query_bookmark_manager,
        )

    async def run(
        self, query: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement in a managed read or write transaction."""
        self.round_trips += 1
        parameters = dict(params) if params else {}
        async with self._session() as session:
            if cypher.is_write(query):
                return await session.execute_write(_collect, query, parameters)
            return await session.execute_read(_collect, query, parameters)

    async def ping(self) -> None:
        """Raise if no server (or cluster member) answers."""
        await self._driver.verify_connectivity()

    async def setup_schema(self) -> None:
        """Create the :User(id) uniqueness constraint if missing.

        Schema commands run as auto-commit queries: they may not share a
        transaction with data writes, and ``IF NOT EXISTS`` makes them safe to
        repeat on every start.
        """
        async with self._session() as session:
            for statement in cypher.NEO4J_SCHEMA:
                result = await session.run(statement)
                await result.consume()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._driver.close()


async def _collect(
    tx: neo4j.AsyncManagedTransaction, query: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Transaction function: fetch all rows inside the transaction.

    Results must be consumed before a managed transaction ends, and the
    function may be retried, so it only reads what the statement returns.
    """
    result = await tx.run(query, params)
    return await result.data()
