"""Embedded Ladybug (Kuzu fork) behind the ``GraphDriver`` protocol.

Ladybug runs in-process, so ``chirp serve`` needs no graph server. Its Python
API is blocking; ``ladybug.AsyncConnection`` runs each query on a small thread
pool (and interrupts it if the awaiting task is cancelled), which keeps the
event loop free. Ladybug is single-process: a process-level lock on the data
directory is taken elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import ladybug

from chirp.graph import cypher

#: Connections (and threads) in the pool: reads run in parallel up to this;
#: DataLoader batches from one request rarely need more.
LADYBUG_CONCURRENT_QUERIES: Final = 4
#: Threads one query may use (0 = all cores). One keeps a single heavy query
#: (a suggestions walk) from starving the other requests on a small machine;
#: the follow-graph queries are index lookups and short expansions anyway.
LADYBUG_THREADS_PER_QUERY: Final = 1
#: Page cache cap. Ladybug's default is ~80% of RAM, which is wrong for a
#: process that also hosts embedded Postgres and Redis; 1 GiB holds a graph of
#: tens of millions of edges, and colder pages are read from disk.
LADYBUG_BUFFER_POOL_BYTES: Final = 1 << 30
#: Results up to this many rows are converted on the event loop (cheaper than
#: a thread hop); bigger ones (a full following list) are converted off it.
INLINE_CONVERT_MAX_ROWS: Final = 500


class LadybugDriver:
    """``GraphDriver`` over an embedded Ladybug database."""

    def __init__(self, database: ladybug.Database, connection: ladybug.AsyncConnection) -> None:
        self._database = database
        self._connection = connection
        # Ladybug allows one write transaction at a time and fails, instead of
        # waiting, any other that starts meanwhile ("Only one write transaction
        # at a time"). Writes are therefore queued here; reads still run in
        # parallel with them (Ladybug gives readers a snapshot).
        self._write_lock = asyncio.Lock()
        self._closed = False
        self.round_trips = 0

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        buffer_pool_bytes: int = LADYBUG_BUFFER_POOL_BYTES,
        concurrent_queries: int = LADYBUG_CONCURRENT_QUERIES,
        threads_per_query: int = LADYBUG_THREADS_PER_QUERY,
    ) -> LadybugDriver:
        """Open (creating if needed) the database at ``path``.

        Opening may replay a write-ahead log, so it runs off the event loop.
        """

        def _open() -> tuple[ladybug.Database, ladybug.AsyncConnection]:
            path.parent.mkdir(parents=True, exist_ok=True)
            database = ladybug.Database(str(path), buffer_pool_size=buffer_pool_bytes)
            try:
                connection = ladybug.AsyncConnection(
                    database,
                    max_concurrent_queries=concurrent_queries,
                    max_threads_per_query=threads_per_query,
                )
            except BaseException:
                database.close()
                raise
            return database, connection

        database, connection = await asyncio.to_thread(_open)
        return cls(database, connection)

    async def run(
        self, query: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement and return its rows as dicts."""
        self.round_trips += 1
        return await self._execute(query, params)

    async def ping(self) -> None:
        """Run a trivial query; raises if the database is closed or broken."""
        await self._execute(cypher.PING)

    async def setup_schema(self) -> None:
        """Create the User and FOLLOWS tables if they do not exist yet."""
        for statement in cypher.LADYBUG_SCHEMA:
            await self._execute(statement)

    async def close(self) -> None:
        """Close the connections, then the database (flushes and unlocks it)."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:  # let a running write finish first

            def _close() -> None:
                self._connection.close()
                self._database.close()

            await asyncio.to_thread(_close)

    async def _execute(
        self, query: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        parameters = dict(params) if params else {}
        if cypher.is_write(query):
            async with self._write_lock:
                result = await self._connection.execute(query, parameters)
        else:
            result = await self._connection.execute(query, parameters)
        if isinstance(result, list):  # several statements: keep the last one's rows
            for earlier in result[:-1]:
                earlier.close()
            result = result[-1]
        if result.get_num_tuples() <= INLINE_CONVERT_MAX_ROWS:
            return _rows(result)
        return await asyncio.to_thread(_rows, result)


def _rows(result: ladybug.QueryResult) -> list[dict[str, Any]]:
    """Rows of ``result`` as dicts keyed by column name; closes the result."""
    try:
        columns = result.get_column_names()
        return [dict(zip(columns, row, strict=True)) for row in result]
    finally:
        result.close()
