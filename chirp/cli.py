"""``chirp serve | migrate | worker | seed | bench``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Final

from chirp.config import Settings
from chirp.persistence.embedded import DataDirInUse, EmbeddedServers, stop_all
from chirp.request_id import configure_logging

log = logging.getLogger(__name__)


#: After SIGTERM/SIGINT, open connections (websockets included) get this long
#: to finish before uvicorn cancels them and the app's shutdown starts.
GRACEFUL_SHUTDOWN_SECONDS: Final = 5
#: From the first SIGTERM/SIGINT, `chirp serve` ends within this whatever
#: hangs: a watchdog thread then stops the embedded servers and exits with
#: SHUTDOWN_OVERDUE_EXIT_CODE. Room for the graceful wait, the lifespan
#: (workers, pools: seconds) and stopping Postgres and Redis (about a second).
SHUTDOWN_DEADLINE_SECONDS: Final = 30.0
#: sysexits' EX_SOFTWARE: the shutdown did not finish by itself.
SHUTDOWN_OVERDUE_EXIT_CODE: Final = 70
#: uvicorn.run's code when the server never started (the lifespan failed).
STARTUP_FAILURE_EXIT_CODE: Final = 3


def _serve(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT, then shut down within the deadline and exit 0.

    The app's lifespan starts and stops the embedded servers (it re-enters the
    DATA_DIR claim taken here). :class:`_Server` does not re-raise the signal
    at the end as uvicorn does, so the ``finally`` below runs: it stops any
    embedded server still running (a second Ctrl+C skips the lifespan).
    """
    import uvicorn

    from chirp.app import create_app

    # Claim DATA_DIR before uvicorn starts, so a busy one is a one-line message
    # rather than a failed lifespan with a traceback.
    if settings.embedded:
        try:
            EmbeddedServers(settings).lock()
        except DataDirInUse as exc:
            print(f"chirp: {exc}", file=sys.stderr)
            return 1
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        ws="websockets-sansio",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = _server_class()(config)
    try:
        server.run()
    except KeyboardInterrupt:  # a signal before uvicorn took over the handlers
        pass
    finally:
        stop_all()
    return 0 if server.started else STARTUP_FAILURE_EXIT_CODE


def _server_class() -> type:
    import uvicorn
    from uvicorn.server import HANDLED_SIGNALS

    class _Server(uvicorn.Server):
        """uvicorn's server, but the first signal arms the shutdown deadline and
        the signal is not re-raised once the server has stopped."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            _arm_shutdown_deadline()
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return _Server


_deadline: threading.Timer | None = None


def _arm_shutdown_deadline() -> None:
    global _deadline
    if _deadline is None:
        _deadline = threading.Timer(SHUTDOWN_DEADLINE_SECONDS, _shutdown_overdue)
        _deadline.daemon = True
        _deadline.start()


def _shutdown_overdue() -> None:
    """The watchdog: stop what we started, then end the process now."""
    log.error(
        "shutdown still running after %.0f s; stopping the embedded servers and exiting",
        SHUTDOWN_DEADLINE_SECONDS,
    )
    try:
        stop_all()
    finally:
        logging.shutdown()
        os._exit(SHUTDOWN_OVERDUE_EXIT_CODE)


def _migrate(settings: Settings) -> int:
    from chirp.persistence.migrations import migrate
    from chirp.runtime import open_runtime

    async def run() -> list[str]:
        async with open_runtime(settings, run_migrations=False) as rt:
            return await migrate(rt.db)

    try:
        applied = asyncio.run(run())
    except DataDirInUse as exc:
        print(f"chirp: {exc}", file=sys.stderr)
        return 1
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from chirp.runtime import open_runtime
    from chirp.seed.load import SeedError, SeedSummary, seed_reed98, seed_synthetic

    console = Console(stderr=True)

    async def run() -> SeedSummary:
        async with open_runtime(settings) as rt:
            if args.source == "reed98":
                return await seed_reed98(
                    rt, path=args.path, tweets=args.tweets, seed=args.seed, console=console
                )
            return await seed_synthetic(
                rt,
                users=args.users,
                celebrities=args.celebrities,
                follows_per_user=args.follows_per_user,
                tweets=args.tweets,
                seed=args.seed,
                console=console,
            )

    try:
        summary = asyncio.run(run())
    except (DataDirInUse, SeedError) as exc:
        print(f"chirp: {exc}", file=sys.stderr)
        return 1
    print(summary.line())
    return 0


def _add_seed_parser(commands: argparse._SubParsersAction) -> None:
    from chirp.seed import REED98_PATH, SEED_PASSWORD

    def count(text: str) -> int:
        value = int(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
        return value

    seed = commands.add_parser(
        "seed",
        help="fill an empty database with users, follows and tweets",
        description="Fill an empty database (refused if user_0 exists). Every seeded "
        f"user's password is {SEED_PASSWORD!r}.",
    )
    sources = seed.add_subparsers(dest="source", required=True)
    reed98 = sources.add_parser("reed98", help="the socfb-Reed98 friendship graph (962 users)")
    reed98.add_argument("--path", type=Path, default=REED98_PATH, help="the .edges file")
    synthetic = sources.add_parser("synthetic", help="a power-law graph with celebrities")
    synthetic.add_argument("--users", type=count, required=True, help="how many users")
    synthetic.add_argument(
        "--celebrities", type=count, required=True, help="how many most-followed users"
    )
    synthetic.add_argument(
        "--follows-per-user", type=count, default=50, help="mean follows per user (default 50)"
    )
    for source in (reed98, synthetic):
        source.add_argument("--tweets", type=count, default=0, help="tweets to add (default 0)")
        source.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _worker(settings: Settings) -> int:
    if not settings.neo4j_uri:
        print(
            "chirp: the embedded graph (Ladybug) is single-process, so `chirp serve` runs "
            "the workers itself; `chirp worker` needs CHIRP_NEO4J_URI (and external "
            "Postgres and Redis).",
            file=sys.stderr,
        )
        return 1

    from chirp.runtime import open_runtime
    from chirp.workers.runner import running_workers

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with open_runtime(settings) as rt, running_workers(rt):
            await stop.wait()

    asyncio.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chirp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (embedded servers unless URLs are set)")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("worker", help="run the stream workers (production, with Neo4j)")
    _add_seed_parser(commands)
    commands.add_parser("bench", help="run a benchmark scenario", add_help=False)
    args, rest = parser.parse_known_args(argv)

    if args.command == "bench":
        import bench

        return bench.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    settings = Settings()
    configure_logging(settings.log_level)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "seed":
        return _seed(settings, args)
    if args.command == "worker":
        return _worker(settings)
    return _migrate(settings)


if __name__ == "__main__":
    sys.exit(main())
