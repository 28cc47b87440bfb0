"""Postgres access: pools for the primary and the read replica, counted round trips.

Repositories take a :class:`Database` (or the :class:`Executor` of a
transaction) and call ``fetch``/``fetchrow``/``fetchval``/``execute``. Every
call is one round trip and is counted, so tests can prove that a query's cost
does not grow with the page size.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

#: Enough connections for one app process on a small machine; Postgres' own
#: default max_connections (100) leaves room for workers and several instances.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 20
#: A statement that runs longer than this is a bug or an overload; fail it
#: rather than let requests queue behind it.
STATEMENT_TIMEOUT_MS = 10_000


class Executor:
    """Counted query methods over a pool or one connection."""

    def __init__(self, target: asyncpg.Pool | asyncpg.Connection, counter: list[int]) -> None:
        self._target = target
        self._counter = counter

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self._counter[0] += 1
        return await self._target.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        self._counter[0] += 1
        return await self._target.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self._counter[0] += 1
        return await self._target.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        self._counter[0] += 1
        return await self._target.execute(query, *args)

    async def executemany(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        self._counter[0] += 1
        await self._target.executemany(query, args)

    async def copy_records_to_table(
        self, table: str, *, records: Iterable[Sequence[Any]], columns: Sequence[str]
    ) -> str:
        """Bulk load with COPY (seeding): one round trip however many records."""
        self._counter[0] += 1
        return await self._target.copy_records_to_table(
            table, records=records, columns=list(columns)
        )


class Database(Executor):
    """The primary pool (writes and reads that must see them) plus a read view."""

    def __init__(self, pool: asyncpg.Pool, read_pool: asyncpg.Pool | None = None) -> None:
        self._counter = [0]
        super().__init__(pool, self._counter)
        self.pool = pool
        self._read_pool = read_pool
        #: Reads that tolerate replica lag go here; it is the primary without a replica.
        self.read = Executor(read_pool or pool, self._counter)

    @property
    def round_trips(self) -> int:
        return self._counter[0]

    @classmethod
    async def connect(cls, url: str, read_url: str | None = None) -> Database:
        pool = await _create_pool(url)
        read_pool = await _create_pool(read_url) if read_url and read_url != url else None
        return cls(pool, read_pool)

    async def ping(self) -> None:
        """Raise unless the primary answers (readiness)."""
        await self.fetchval("SELECT 1")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield Executor(conn, self._counter)

    async def close(self) -> None:
        await self.pool.close()
        if self._read_pool is not None:
            await self._read_pool.close()


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Release a connection without asyncpg's reset query.

    That query (unlock advisory locks, close cursors, UNLISTEN, RESET ALL)
    costs a round trip on every release, i.e. per query. Chirp leaves no
    session state behind: settings are ``SET LOCAL`` inside transactions,
    advisory locks are unlocked in ``finally``, and listeners are removed
    before release.
    """


async def _create_pool(url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=POOL_MIN_SIZE,
        max_size=POOL_MAX_SIZE,
        server_settings={"statement_timeout": str(STATEMENT_TIMEOUT_MS)},
        reset=_keep_session,
    )
    assert pool is not None
    return pool
