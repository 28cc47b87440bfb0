"""``chirp serve | migrate | worker | seed | bench``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from chirp.config import Settings
from chirp.persistence.embedded import DataDirInUse, EmbeddedServers
from chirp.request_id import configure_logging


def _serve(settings: Settings) -> int:
    import uvicorn

    from chirp.app import create_app

    # Claim DATA_DIR before uvicorn starts, so a busy one is a one-line message
    # rather than a failed lifespan with a traceback. The app's lifespan starts
    # and stops the embedded servers (it re-enters this process's claim); it
    # must, because uvicorn ends the process by re-raising SIGTERM/SIGINT.
    if settings.embedded:
        try:
            EmbeddedServers(settings).lock()
        except DataDirInUse as exc:
            print(f"chirp: {exc}", file=sys.stderr)
            return 1
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        ws="websockets-sansio",
    )
    return 0


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

    import signal

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
