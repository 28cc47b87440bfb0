"""``chirp bench <scenario>``: run one scenario against Chirp and its baseline, print JSON.

Both sides get the same treatment in the same run: a fresh server process on a
free port, the scenario's setup through the API, a warm-up, then the measured
window with the same load generator and settings. Only the JSON report goes
to stdout, so ``chirp bench viewer > result.json`` works; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import scenarios
from bench.graphql import GraphQLCallError
from bench.loadgen import CLIENT_NAME, LoadResult, loop_name, run_async, run_load
from bench.machine import (
    background_cpu_cores,
    busy_cpu_seconds,
    cpu_count,
    process_cpu_seconds,
    python_info,
)
from bench.scenario import AnyScenario, Measurement
from bench.server import (
    DEFAULT_READY_TIMEOUT_S,
    EXTERNAL_SETTINGS,
    HOST,
    RunningServer,
    ServerCommand,
    ServerError,
    chirp_command,
    data_dir,
    free_port,
    running,
    seed_data,
    uvicorn_command,
)
from bench.stats import ratio, summarize

DEFAULT_DURATION_S = 10.0
#: Long enough for the server's caches, the allocator and CPU frequency to
#: settle; short enough not to double the run time.
DEFAULT_WARMUP_S = 2.0
#: Enough connections to keep a single-process server saturated while its
#: awaits on Postgres and Redis are in flight, without queueing for seconds.
DEFAULT_CONCURRENCY = 32
#: Load is bounded in time: both sides plus startup must fit well inside a
#: 10-minute shell command on this machine.
MAX_DURATION_S = 240.0
#: Scenarios that watch for drift over minutes: (default, maximum) --duration.
#: A soak's verdict needs many samples, and one run is its own shell command.
LONG_RUNS = {"soak": (600.0, 3600.0)}
MAX_WARMUP_S = 60.0
#: Each connection is a socket at both ends and a task in the server; past a
#: few hundred a 2-core machine measures queueing, and the default limit of
#: 1024 open files per process comes into reach.
MAX_CONCURRENCY = 512
#: Idle sample before the run that measures other jobs' CPU use on the machine.
BACKGROUND_SAMPLE_S = 1.0
#: Background use above this (in cores) makes the numbers noticeably noisy:
#: on 2 cores it is a tenth of what the server and its databases can get.
BACKGROUND_WARN_CORES = 0.2
#: One setup call (sign-up hashes a password with argon2; seeding may batch).
SETUP_TIMEOUT_S = 60.0

EXIT_SERVER_FAILED = 2
EXIT_SETUP_FAILED = 3
#: The run completed but its report says ``"ok": false`` (e.g. a soak's verdict).
EXIT_CHECK_FAILED = 4
#: Conventional exit status for "terminated by SIGTERM" (128 + 15).
EXIT_TERMINATED = 143


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _bounded(
    kind: type[float] | type[int], low: float, high: float, *, low_open: bool = False
) -> Callable[[str], float | int]:
    """An argparse type that rejects values outside [low, high] (or (low, high])."""

    def parse(text: str) -> float | int:
        value = kind(text)
        if value < low or (low_open and value == low) or value > high:
            side = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"{text} is outside {side}{low}, {high}]")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """Resolves --duration per scenario: seconds for most, minutes for LONG_RUNS."""

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        default, limit = LONG_RUNS.get(parsed.scenario, (DEFAULT_DURATION_S, MAX_DURATION_S))
        if parsed.duration is None:
            parsed.duration = default
        elif parsed.duration > limit:
            self.error(f"argument --duration: {parsed.duration:g} is above {limit:g} for "
                       f"{parsed.scenario}")  # fmt: skip
        return parsed


def build_parser() -> argparse.ArgumentParser:
    known = scenarios.registry()
    longest = max([MAX_DURATION_S, *(limit for _, limit in LONG_RUNS.values())])
    parser = _Parser(
        prog="chirp bench",
        description="Benchmark Chirp against a bare in-memory baseline; prints JSON on stdout.",
        epilog="scenarios:\n" + "\n".join(f"  {n:<14} {s.summary}" for n, s in known.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=sorted(known), metavar="scenario")
    parser.add_argument(
        "--duration", type=_bounded(float, 0, longest, low_open=True), default=None,
        help=f"measured seconds per side (default {DEFAULT_DURATION_S:g}; "
        + "; ".join(f"{name}: {d:g}" for name, (d, _) in LONG_RUNS.items()) + ")",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=_bounded(float, 0, MAX_WARMUP_S), default=DEFAULT_WARMUP_S,
        help="unmeasured seconds of load before measuring (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", type=_bounded(int, 1, MAX_CONCURRENCY), default=DEFAULT_CONCURRENCY,
        help="concurrent keep-alive connections (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="Chirp's CHIRP_DATA_DIR (default: a fresh temporary directory, removed after)",
    )  # fmt: skip
    parser.add_argument(
        "--ready-timeout", type=_bounded(float, 0, 600, low_open=True),
        default=DEFAULT_READY_TIMEOUT_S,
        help="seconds to wait for GET /readyz to answer 200 (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--chirp-app", metavar="MODULE:APP", default=None,
        help="serve this ASGI app with uvicorn in place of `chirp serve` "
        "(to test the harness itself, e.g. with the scenario's baseline app)",
    )  # fmt: skip
    return parser


async def _setup_and_load(
    server: RunningServer, scenario: AnyScenario, args: argparse.Namespace
) -> tuple[LoadResult, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=SETUP_TIMEOUT_S) as client:
        state = await scenario.setup(client, server.base_url)
        before = await scenario.stats.read(client) if scenario.stats else {}
    requests = scenario.requests(state)
    _log(f"{server.command.label}: {args.warmup:g} s warm-up, {args.duration:g} s measured")
    result = await run_load(
        HOST,
        server.command.port,
        requests,
        scenario.check,
        concurrency=args.concurrency,
        warmup_s=args.warmup,
        duration_s=args.duration,
        cpu_probes={
            "server": process_cpu_seconds(server.process.pid),
            "machine": busy_cpu_seconds,
        },
    )
    if scenario.stats is None:
        return result, {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=SETUP_TIMEOUT_S) as client:
        after = await scenario.stats.read(client)
    return result, scenario.stats.report(before, after)


class SetupError(ServerError):
    """The server started but the scenario's setup failed against it."""


def run_side(
    command: ServerCommand, scenario: AnyScenario, args: argparse.Namespace
) -> dict[str, Any]:
    """Start one server, set up, load it, stop it; return its summary."""
    _log(f"{command.label}: starting {' '.join(command.argv[1:])} on port {command.port}")
    with running(command) as server:
        took = server.wait_ready(args.ready_timeout)
        _log(f"{command.label}: ready after {took:.1f} s")
        try:
            result, server_stats = run_async(lambda: _setup_and_load(server, scenario, args))
        except (GraphQLCallError, httpx.HTTPError) as exc:
            raise SetupError(f"{command.label}: setup failed: {exc}", server.log_tail()) from exc
        if server.process.poll() is not None:
            raise ServerError(f"{command.label} died during the run", server.log_tail())
    for sample in result.error_samples:
        _log(f"{command.label}: error: {sample}")
    summary = summarize(result)
    if server_stats:
        summary["server_stats"] = server_stats
    _log(f"{command.label}: {summary['rps']} req/s, p50 {summary['p50_ms']} ms, "
         f"p99 {summary['p99_ms']} ms, {summary['errors']} errors")  # fmt: skip
    return summary


def environment(chirp_app: str | None, background: float | None) -> dict[str, Any]:
    """What the numbers depend on besides the code."""
    env: dict[str, Any] = {
        **python_info(),
        "cpu_count": cpu_count(),
        "background_cpu_cores": background,
        "client": CLIENT_NAME,
        "client_loop": loop_name(),
    }
    if chirp_app is not None:
        return {**env, "mode": f"substitute app {chirp_app}"}
    external = {name: bool(os.environ.get(name)) for name in EXTERNAL_SETTINGS}
    if all(external.values()):
        mode = "external"
    else:
        mode = "mixed" if any(external.values()) else "embedded"
    return {
        **env,
        "mode": mode,
        "postgres": "external" if external["CHIRP_DATABASE_URL"] else "embedded",
        "redis": "external" if external["CHIRP_REDIS_URL"] else "embedded",
        "graph": "neo4j" if external["CHIRP_NEO4J_URI"] else "ladybug",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both sides, Chirp first (it is the one likely to fail, so fail early)."""
    scenario = scenarios.get(args.scenario)
    if isinstance(scenario, Measurement):
        return {"scenario": scenario.name, **scenario.run(args)}
    background = background_cpu_cores(BACKGROUND_SAMPLE_S)
    if background is not None and background > BACKGROUND_WARN_CORES:
        _log(f"warning: other processes keep {background} cores busy; the numbers will be noisy")
    with data_dir(args.data_dir) as directory:
        if args.chirp_app is not None:
            chirp = uvicorn_command("chirp", args.chirp_app, free_port())
        else:
            chirp = chirp_command(directory, free_port())
            if scenario.seed:
                _log(f"seeding: chirp seed {' '.join(scenario.seed)}")
                _log(f"seeded in {seed_data(chirp, scenario.seed):.1f} s")
        chirp_summary = run_side(chirp, scenario, args)
    baseline = uvicorn_command("baseline", scenario.baseline_app, free_port())
    baseline_summary = run_side(baseline, scenario, args)
    return {
        "scenario": scenario.name,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "concurrency": args.concurrency,
        "chirp": chirp_summary,
        "baseline": {**baseline_summary, "app": scenario.baseline_app},
        "ratio": ratio(chirp_summary, baseline_summary),
        "env": environment(args.chirp_app, background),
    }


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the servers are still stopped (finally blocks run)."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(EXIT_TERMINATED)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``chirp bench``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    with _sigterm_exits():
        try:
            report = run(args)
        except SetupError as exc:
            _log(f"{exc}\n--- server log tail ---\n{exc.log_tail}")
            return EXIT_SETUP_FAILED
        except ServerError as exc:
            _log(f"{exc}\n--- server log tail ---\n{exc.log_tail}")
            return EXIT_SERVER_FAILED
    print(json.dumps(report, indent=2))
    return EXIT_CHECK_FAILED if report.get("ok") is False else 0


if __name__ == "__main__":
    raise SystemExit(main())
