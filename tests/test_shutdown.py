"""`chirp serve` as a real process: SIGTERM ends it within a bound, with exit
code 0, and nothing it started (embedded Postgres, redis-server) is left
running: after legacy graphql-ws subscriptions, after an earlier SIGKILL of
another `chirp serve` on the same DATA_DIR, and after websocket churn (which
must not leave "Task exception was never retrieved" in its log).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect

from tests.live import LEGACY_WS, TRANSPORT_WS, GraphQLSocket
from tests.support import PASSWORD, SIGN_UP

REPO = Path(__file__).resolve().parents[1]
#: Starting embedded Postgres and Redis from scratch takes a few seconds here.
START_DEADLINE_SECONDS = 60.0
#: SIGTERM to exit: a graceful wait for open sockets (none here), the
#: lifespan, and stopping Postgres and Redis, on a loaded two-core box.
SHUTDOWN_BOUND_SECONDS = 15.0
#: Subscribe-and-stop cycles before SIGTERM: a stopped operation's task
#: ignored its cancellation now and then (Python 3.11 wait_for in redis-py),
#: which hung shutdown; a few cycles made that near certain.
STOP_CYCLES = 6
#: Connections opened and dropped mid-operation in the churn test, and how
#: many at once; each abort lands at a different moment of the operation.
CHURN_CYCLES = 200
CHURN_BATCH = 10
TRENDS = "subscription { trends { hashtag } }"
VIEWER = "{ viewer { handle } }"
NEVER_RETRIEVED = "Task exception was never retrieved"


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIRP_")}
    return {**env, **overrides}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """`python -m chirp serve` on a free port, its stderr kept in a file."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        self.log = log
        with log.open("ab") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chirp", "serve"],
                env=_env(CHIRP_DATA_DIR=str(data_dir), CHIRP_PORT=str(self.port)),
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            assert self.proc.poll() is None, self.stderr()
            try:
                if httpx.get(f"{self.url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "chirp serve did not become ready"
            time.sleep(0.2)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def sign_up(self, handle: str) -> str:
        body = httpx.post(
            f"{self.url}/graphql",
            json={"query": SIGN_UP, "variables": {"handle": handle, "password": PASSWORD}},
            timeout=30,
        ).json()
        return body["data"]["signUp"]["token"]

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the exit took (fails past the bound)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=SHUTDOWN_BOUND_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"no exit {SHUTDOWN_BOUND_SECONDS} s after SIGTERM:\n{self.stderr()[-3000:]}"
            )
        return code, time.monotonic() - started


def servers_running_in(data_dir: Path) -> list[psutil.Process]:
    """The embedded postmaster and redis-server of ``data_dir`` still alive."""
    pgdata = str(data_dir / "postgres")
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            name = process.info["name"]
            if (name == "postgres" and pgdata in (process.info["cmdline"] or [])) or (
                name == "redis-server" and Path(process.cwd()) == data_dir
            ):
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A DATA_DIR whose servers are killed at the end if a test left them."""
    path = (tmp_path / "data").resolve()
    yield path
    for process in servers_running_in(path):
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGCONT)
            process.kill()


@pytest.fixture
def serve(data_dir: Path, tmp_path: Path) -> Iterator[Serve]:
    server = Serve(data_dir, tmp_path / "serve.log")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def assert_stopped_cleanly(server: Serve, data_dir: Path) -> None:
    code, _ = server.terminate()
    left = [(p.pid, p.info["name"]) for p in servers_running_in(data_dir)]
    assert left == [], "still running after chirp serve exited"
    assert code == 0, server.stderr()[-3000:]
    assert NEVER_RETRIEVED not in server.stderr()


async def test_sigterm_after_stopped_subscriptions_exits_and_stops_its_servers(
    serve: Serve, data_dir: Path
) -> None:
    token = serve.sign_up("leaver")
    for n in range(STOP_CYCLES):
        protocol = LEGACY_WS if n % 3 else TRANSPORT_WS
        async with GraphQLSocket.open(serve.ws_url, protocol, token=token) as ws:
            await ws.subscribe("trends", TRENDS)
            await ws.complete("trends")
    assert_stopped_cleanly(serve, data_dir)


def test_a_serve_after_a_sigkilled_one_stops_every_server(data_dir: Path, tmp_path: Path) -> None:
    first = Serve(data_dir, tmp_path / "first.log")
    try:
        token = first.sign_up("survivor")
    finally:
        first.proc.kill()  # no shutdown at all: its servers are orphaned
        first.proc.wait()
    assert servers_running_in(data_dir)  # the orphans the next owner inherits
    second = Serve(data_dir, tmp_path / "second.log")
    try:
        viewer = httpx.post(
            f"{second.url}/graphql",
            json={"query": VIEWER},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        assert viewer == {"data": {"viewer": {"handle": "survivor"}}}
        assert_stopped_cleanly(second, data_dir)
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
            second.proc.wait()


async def _drop_mid_operation(url: str, token: str, n: int) -> None:
    """Connect, subscribe, then vanish (TCP abort) n % 10 ms later, sometimes
    after a stop: the server may be sending to a socket already gone."""
    async with connect(url, subprotocols=[LEGACY_WS]) as ws:  # type: ignore[list-item]
        socket_ = GraphQLSocket(ws, LEGACY_WS)
        await socket_.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert (await socket_.receive())["type"] == "connection_ack"
        await socket_.subscribe("churn", TRENDS)
        if n % 3 == 0:
            await socket_.complete("churn")
        # A deliberate jitter of the abort point, not a synchronisation.
        await asyncio.sleep(0.001 * (n % 10))
        assert ws.transport is not None
        ws.transport.abort()


async def test_graphql_ws_churn_leaves_no_unretrieved_task_errors(
    serve: Serve, data_dir: Path
) -> None:
    token = serve.sign_up("churner")
    for start in range(0, CHURN_CYCLES, CHURN_BATCH):
        await asyncio.gather(
            *(
                _drop_mid_operation(serve.ws_url, token, n)
                for n in range(start, start + CHURN_BATCH)
            )
        )
    # Still serving, then a clean stop with nothing unretrieved in its log.
    async with GraphQLSocket.open(serve.ws_url, LEGACY_WS, token=token) as ws:
        await ws.subscribe("after", TRENDS)
        assert "trends" in await ws.next_data("after")
    assert_stopped_cleanly(serve, data_dir)
