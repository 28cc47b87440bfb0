"""Start a server under test as a subprocess, wait until it is ready, always stop it.

Both sides of a comparison go through this one path (fresh process, free
port, same readiness poll), so neither gets a warmer start than the other.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

HOST = "127.0.0.1"
READY_PATH = "/readyz"
#: Chirp's embedded mode runs initdb and starts Postgres and Redis on a fresh
#: data directory; on 2 busy cores that takes tens of seconds, not minutes.
DEFAULT_READY_TIMEOUT_S = 60.0
#: Between readiness probes: fast enough to start measuring promptly, slow
#: enough not to load a server that is still starting.
READY_POLL_INTERVAL_S = 0.1
#: One readiness probe; a server that cannot answer /readyz in this is not ready.
READY_PROBE_TIMEOUT_S = 2.0
#: After SIGTERM, time for a graceful stop (embedded Postgres shuts down fast mode).
STOP_TIMEOUT_S = 30.0
#: Time for children a stopped server left behind to exit after SIGTERM.
LEFTOVER_TIMEOUT_S = 10.0
#: After SIGKILL, time for the kernel to reap the process group.
KILL_TIMEOUT_S = 5.0
#: How much of the server's log is shown when it fails to start.
LOG_TAIL_CHARS = 4000

#: Settings that point Chirp at external servers; passed through when set.
EXTERNAL_SETTINGS = ("CHIRP_DATABASE_URL", "CHIRP_REDIS_URL", "CHIRP_NEO4J_URI")
#: Access logging per request is real server work that a benchmark should not
#: count; both sides run at this level unless CHIRP_LOG_LEVEL is set.
BENCH_LOG_LEVEL = "WARNING"


class ServerError(RuntimeError):
    """The server did not start, or died; ``log_tail`` holds its last output."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass(frozen=True)
class ServerCommand:
    """How to start one server: argv and environment, listening on ``port``."""

    label: str
    argv: list[str]
    env: Mapping[str, str]
    port: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def chirp_command(data_dir: Path, port: int) -> ServerCommand:
    """``python -m chirp serve`` with benchmark settings; external URLs pass through."""
    env = dict(os.environ)
    env.update(
        CHIRP_HOST=HOST,
        CHIRP_PORT=str(port),
        CHIRP_RATE_LIMITS="off",
        CHIRP_DATA_DIR=str(data_dir),
    )
    env.setdefault("CHIRP_LOG_LEVEL", BENCH_LOG_LEVEL)
    return ServerCommand("chirp", [sys.executable, "-m", "chirp", "serve"], env, port)


#: Seeding reed98 with its tweets takes ~10 s here; this bounds a stuck seed.
SEED_TIMEOUT_S = 600


def seed_data(command: ServerCommand, seed_args: Sequence[str]) -> float:
    """Run ``chirp seed`` with the server's settings before it starts; seconds taken.

    A data directory reused with ``--data-dir`` is already seeded: the seed's
    refusal to fill a non-empty database is not an error then.
    """
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "chirp", "seed", *seed_args],
        env=dict(command.env),
        capture_output=True,
        text=True,
        timeout=SEED_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0 and "already" not in result.stderr:
        raise ServerError(f"chirp seed {' '.join(seed_args)} failed", result.stderr[-2000:])
    return time.monotonic() - started


def uvicorn_command(label: str, app: str, port: int) -> ServerCommand:
    """uvicorn serving ``module:attribute`` with its defaults (uvloop, httptools),
    like ``chirp serve``, and without access logs."""
    argv = [
        sys.executable, "-m", "uvicorn", app,
        "--host", HOST, "--port", str(port),
        "--log-level", BENCH_LOG_LEVEL.lower(), "--no-access-log",
    ]  # fmt: skip
    return ServerCommand(label, argv, dict(os.environ), port)


class RunningServer:
    """A started server; ``stop`` ends it and everything it started."""

    def __init__(self, command: ServerCommand, log: IO[bytes]) -> None:
        self.command = command
        self._log = log
        # A new session makes the server a process-group leader, so a hung
        # server and any children it spawned (Postgres, redis-server) can be
        # killed together, and Ctrl-C in the terminal reaches only the harness.
        self.process = subprocess.Popen(
            command.argv,
            env=dict(command.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.command.port}"

    def log_tail(self) -> str:
        self._log.flush()
        with open(self._log.name, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL_CHARS))
            return f.read().decode(errors="replace")

    def wait_ready(self, timeout_s: float) -> float:
        """Poll ``/readyz`` until it answers 200; return the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout_s
        last = "no answer yet"
        with httpx.Client(timeout=READY_PROBE_TIMEOUT_S) as client:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    raise ServerError(
                        f"{self.command.label} exited with code {code} before it was ready",
                        self.log_tail(),
                    )
                try:
                    response = client.get(self.base_url + READY_PATH)
                    if response.status_code == 200:
                        return time.monotonic() - started
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}"
                time.sleep(READY_POLL_INTERVAL_S)
        raise ServerError(
            f"{self.command.label} was not ready after {timeout_s:.0f} s (last probe: {last})",
            self.log_tail(),
        )

    def stop(self) -> None:
        """SIGTERM the server, then its leftover children, then SIGKILL what remains."""
        pgid = self.process.pid  # leader of its own session, see __init__
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"{self.command.label} ignored SIGTERM; killing it", file=sys.stderr)
        if _group_alive(pgid) and self.process.poll() is not None:
            _signal_group(pgid, signal.SIGTERM)  # children it left behind get a clean stop
            deadline = time.monotonic() + LEFTOVER_TIMEOUT_S
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(READY_POLL_INTERVAL_S)
        _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(KILL_TIMEOUT_S)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def running(command: ServerCommand) -> Iterator[RunningServer]:
    """Start ``command``; stop it on leaving the block, however it is left."""
    with tempfile.NamedTemporaryFile(prefix=f"bench-{command.label}-", suffix=".log") as log:
        server = RunningServer(command, log)
        try:
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def data_dir(given: Path | None) -> Iterator[Path]:
    """Chirp's data directory: ``given`` (kept), or a fresh temporary one."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="chirp-bench-", ignore_cleanup_errors=True) as tmp:
        yield Path(tmp)
