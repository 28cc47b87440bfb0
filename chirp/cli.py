"""``chirp serve | migrate | bench``."""

from __future__ import annotations

import argparse
import asyncio
import sys

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chirp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (embedded servers unless URLs are set)")
    commands.add_parser("migrate", help="apply pending database migrations")
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
    return _migrate(settings)


if __name__ == "__main__":
    sys.exit(main())
