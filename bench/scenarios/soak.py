"""``soak``: DeathStarBench's mix at half of Chirp's peak rate, for minutes,
watching whether memory, file descriptors or latency keep climbing.

Chirp is seeded like ``home-feed`` and ``user-timeline`` (``chirp seed reed98
--tweets 20000``) and ``READERS`` seeded users log in. The mix is
DeathStarBench's social network: 60% ``homeFeed(first: 20)``, 30% a user's
``tweets(first: 20)`` (any of reed98's 962 users), 10% ``postTweet`` with
hashtags, @mentions of other users and a URL (which Chirp shortens), all
with authors, counts and viewer flags, as a logged-in reader.

1. Peak probe: the mix closed-loop (like every other scenario) for
   ``PEAK_PROBE_S`` at ``--concurrency``; the target rate is
   ``RATE_FRACTION`` of the requests per second it reached.
2. ``--warmup`` seconds at the target rate, not counted.
3. ``--duration`` seconds at the target rate, paced (open loop, latency from
   each request's due time; see ``bench.paced``), summarised every
   ``WINDOW_S``: requests, errors, HTTP 5xx, p50/p99, and the server
   process's RSS, USS, file descriptors, open files, threads and sockets,
   with its children (embedded Postgres and Redis) apart.

The baseline is the same mix at the same rate against
``bench.baseline.soak`` (the ``home-feed`` and ``user-timeline`` baselines in
one app, with a bounded in-memory ``postTweet``), for the same duration: it
shows how much drift the client, uvicorn and Strawberry alone produce on
this machine. The verdict is Chirp's: ``ok`` is false (and ``chirp bench``
exits non-zero) on any HTTP 5xx, an error rate above ``MAX_ERROR_RATE``, or
a series that keeps climbing by the rules below (see ``bench.drift``).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.cli import (
    BACKGROUND_SAMPLE_S,
    BACKGROUND_WARN_CORES,
    SETUP_TIMEOUT_S,
    SetupError,
    environment,
)
from bench.drift import ClimbRule, drift
from bench.graphql import GraphQLCallError, execute, graphql_check, graphql_request
from bench.loadgen import encode_request, run_async, run_load
from bench.machine import background_cpu_cores, busy_cpu_seconds, process_cpu_seconds
from bench.paced import PacedRequest, run_paced
from bench.scenario import Measurement, Request
from bench.scenarios.home_feed import QUERY as HOME_FEED
from bench.scenarios.user_timeline import LOG_IN, SEED_PASSWORD
from bench.scenarios.user_timeline import QUERY as USER_TIMELINE
from bench.server import (
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
from bench.stats import percentile, summarize

BASELINE_APP = "bench.baseline.soak:app"
SEED: tuple[str, ...] = ("reed98", "--tweets", "20000")
#: Users of the seed (socfb-Reed98 has 962), whose timelines are read.
SEED_USERS = 962
#: Logged-in readers (and authors); each login is an argon2 verification.
READERS = 50
#: DeathStarBench's social-network mix.
MIX = {"home": 60, "user": 30, "compose": 10}
#: Requests in the cycled pool: 1,000 distinct posts, and a deterministic order.
POOL_SIZE = 10_000
POOL_SEED = 98
COMPOSE = """
mutation Compose($text: String!) {
  postTweet(text: $text) { id text createdAt author { id handle } }
}
"""
CHECKS = {
    "home": graphql_check("homeFeed"),
    "user": graphql_check("user"),
    "compose": graphql_check("postTweet"),
}

#: Closed-loop seconds to find the peak: long enough for a stable rate with
#: writes in the mix, short next to the soak itself.
PEAK_PROBE_S = 10.0
PEAK_PROBE_WARMUP_S = 2.0
#: Soak at half the peak, as DeathStarBench's long runs do: a loaded server
#: that still has headroom, so latency reflects the server's state rather
#: than a queue that builds because it is saturated.
RATE_FRACTION = 0.5
#: One sample per window: 10 s holds about a thousand requests at a typical
#: rate here, enough for a stable p99 (its tenth-largest latency).
WINDOW_S = 10.0

#: Any error beyond this share of requests fails the run (5xx fail it at once):
#: at half the peak nothing should time out or be refused.
MAX_ERROR_RATE = 0.001
#: The server's Python process: once its caches are warm (parsed documents,
#: persisted queries, the graph's buffers) its RSS should be level. Climbing
#: is a level 10% higher in the last third than in the first AND still rising
#: by more than 1 MiB a minute in the second half: a leak of ~200 bytes per
#: request at ~100 requests/s; the GC's and allocator's own swings are a few
#: MiB up and down, not a steady rise.
SERVER_RSS_RULE = ClimbRule(max_ratio=1.10, max_slope_per_min=1.0)
#: Embedded Postgres and Redis (PSS, so shared buffers count once): they grow
#: with the data, which a soak adds to (one tweet, its short link and its
#: timeline entries per compose), until Postgres' shared buffers are all
#: touched and Redis' timelines reach their cap. Hence a looser rule:
#: 25% and 4 MiB a minute.
CHILDREN_PSS_RULE = ClimbRule(max_ratio=1.25, max_slope_per_min=4.0)
#: p99 per window is noisier than memory (one slow autovacuum or GC pause
#: moves it): climbing is a last third 50% above the first AND a late slope
#: above 10% of the first third's level per minute.
P99_RULE = ClimbRule(max_ratio=1.5, max_relative_slope_per_min=0.10)
#: File descriptors: the server's own are its listening socket, the client's
#: connections (a fixed set) and its pools (bounded). 32 more in the last
#: third (the default --concurrency: every client connection reopened at
#: once) and still rising by 2 a minute is a leak.
FDS_RULE = ClimbRule(max_ratio=1.0, max_slope_per_min=2.0)
FDS_MAX_GROWTH = 32

MIB = 2**20


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- the mix -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    tokens: list[str]


async def setup(client: httpx.AsyncClient) -> State:
    tokens = []
    for n in range(READERS):
        variables = {"handle": f"user_{n * 7}", "password": SEED_PASSWORD}
        tokens.append((await execute(client, LOG_IN, variables))["logIn"]["token"])
    return State(tokens=tokens)


def compose_text(n: int, rng: random.Random) -> str:
    """A post like DeathStarBench's: words, two hashtags, two mentions, a URL."""
    first, second = rng.sample(range(SEED_USERS), 2)
    return (
        f"soak post {n}: #soak #topic{n % 40} hello @user_{first} and @user_{second}, "
        f"see https://example.com/soak/{n}?from=user_{first}"
    )


def mix(state: State) -> list[tuple[str, Request]]:
    """``POOL_SIZE`` requests in the mix's proportions, in a fixed random order."""
    rng = random.Random(POOL_SEED)
    per_cycle = sum(MIX.values())
    kinds = [kind for kind, share in MIX.items() for _ in range(share * POOL_SIZE // per_cycle)]
    rng.shuffle(kinds)
    pool = []
    for n, kind in enumerate(kinds):
        token = rng.choice(state.tokens)
        if kind == "home":
            request = graphql_request(HOME_FEED, token=token)
        elif kind == "user":
            handle = f"user_{rng.randrange(SEED_USERS)}"
            request = graphql_request(USER_TIMELINE, {"handle": handle}, token=token)
        else:
            request = graphql_request(COMPOSE, {"text": compose_text(n, rng)}, token=token)
        pool.append((kind, request))
    return pool


# --- what is sampled ---------------------------------------------------------------------------


def embedded_servers(data_dir: Path | None) -> list[psutil.Process]:
    """Chirp's embedded Postgres (postmaster and backends) and redis-server for
    ``data_dir``: they run as daemons, not as the server's children, so they
    are found by their data directory (Postgres' ``postmaster.pid``, Redis'
    working directory; see ``chirp.persistence.embedded``). Nothing with
    external servers or for the baseline."""
    if data_dir is None:
        return []
    found: list[psutil.Process] = []
    with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
        pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        postmaster = psutil.Process(pid)
        found += [postmaster, *postmaster.children(recursive=True)]
    for process in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error, OSError):
            if process.info["name"] == "redis-server" and Path(process.cwd()) == data_dir:
                found.append(process)
    return found


def process_sample(pid: int, data_dir: Path | None) -> dict[str, Any]:
    """The server process's memory and descriptors; its children's memory
    (with the embedded databases it started) apart."""
    server = psutil.Process(pid)
    with server.oneshot():
        memory = server.memory_full_info()
        sample: dict[str, Any] = {
            "server_rss_mib": round(memory.rss / MIB, 1),
            "server_uss_mib": round(memory.uss / MIB, 1),
            "server_fds": server.num_fds(),
            "server_open_files": len(server.open_files()),
            "server_threads": server.num_threads(),
            "server_sockets": len(server.net_connections(kind="inet")),
        }
        children = server.children(recursive=True)
    rss = pss = 0
    by_name: dict[str, int] = defaultdict(int)
    counted = 0
    for child in {p.pid: p for p in [*children, *embedded_servers(data_dir)]}.values():
        try:
            child_memory = child.memory_full_info()
            name = child.name()
        except psutil.Error:
            continue  # a Postgres backend that exited between listing and reading
        counted += 1
        rss += child_memory.rss
        pss += child_memory.pss
        by_name[name] += child_memory.pss
    sample.update(
        children=counted,
        children_rss_mib=round(rss / MIB, 1),
        children_pss_mib=round(pss / MIB, 1),
        children_pss_mib_by_name={k: round(v / MIB, 1) for k, v in sorted(by_name.items())},
    )
    return sample


# --- one side ----------------------------------------------------------------------------------


async def _drive(
    server: RunningServer, args: argparse.Namespace, rate: float | None, data_dir: Path | None
) -> dict[str, Any]:
    label = server.command.label
    async with httpx.AsyncClient(base_url=server.base_url, timeout=SETUP_TIMEOUT_S) as client:
        state = await setup(client)
    pool = mix(state)
    report: dict[str, Any] = {}
    if rate is None:
        _log(f"{label}: peak probe, {PEAK_PROBE_S:g} s closed loop at {args.concurrency}")
        probe = await run_load(
            HOST,
            server.command.port,
            [request for _, request in pool],
            graphql_check(),
            concurrency=args.concurrency,
            warmup_s=PEAK_PROBE_WARMUP_S,
            duration_s=PEAK_PROBE_S,
            cpu_probes={
                "server": process_cpu_seconds(server.process.pid),
                "machine": busy_cpu_seconds,
            },
        )
        report["peak_probe"] = summarize(probe)
        if not probe.latencies_ns or probe.errors:
            samples = "; ".join(probe.error_samples)
            raise ServerError(f"{label}: the peak probe failed ({samples})", server.log_tail())
        rate = round(RATE_FRACTION * report["peak_probe"]["rps"], 1)
    _log(f"{label}: {rate:g} req/s for {args.warmup:g} s warm-up + {args.duration:g} s")
    host_header = f"{HOST}:{server.command.port}"
    paced = [PacedRequest(kind, encode_request(r, host_header)) for kind, r in pool]

    def progress(n: int, window: dict[str, Any]) -> None:
        _log(
            f"{label}: t={window['t_s']:g}s {window['rps']} req/s p50 {window['p50_ms']} ms "
            f"p99 {window['p99_ms']} ms 5xx {window['http_5xx']} errors {window['errors']} "
            f"rss {window['server_rss_mib']} MiB children {window['children_pss_mib']} MiB "
            f"fds {window['server_fds']}"
        )

    result = await run_paced(
        HOST,
        server.command.port,
        paced,
        CHECKS,
        rate=rate,
        connections=args.concurrency,
        warmup_s=args.warmup,
        duration_s=args.duration,
        window_s=WINDOW_S,
        sample=partial(process_sample, server.process.pid, data_dir),
        progress=progress,
    )
    for sample in result.error_samples:
        _log(f"{label}: error: {sample}")
    return {"rate_rps": rate, **report, **_totals(result.windows, result.unsent)}


def _totals(windows: list[dict[str, Any]], unsent: int) -> dict[str, Any]:
    requests = sum(w["requests"] for w in windows)
    seconds = len(windows) * WINDOW_S
    p99s = sorted(w["p99_ms"] for w in windows if w["p99_ms"] is not None)
    return {
        "requests": requests,
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "errors": sum(w["errors"] for w in windows),
        "http_5xx": sum(w["http_5xx"] for w in windows),
        "unsent": unsent,
        "median_window_p50_ms": _median([w["p50_ms"] for w in windows]),
        "median_window_p99_ms": _median([w["p99_ms"] for w in windows]),
        "worst_window_p99_ms": p99s[-1] if p99s else None,
        "samples": windows,
    }


def _median(values: list[float | None]) -> float | None:
    present = sorted(v for v in values if v is not None)
    return percentile(present, 50) if present else None


def _run_side(
    command: ServerCommand,
    args: argparse.Namespace,
    rate: float | None,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    _log(f"{command.label}: starting {' '.join(command.argv[1:])} on port {command.port}")
    with running(command) as server:
        took = server.wait_ready(args.ready_timeout)
        _log(f"{command.label}: ready after {took:.1f} s")
        try:
            side = run_async(lambda: _drive(server, args, rate, data_dir))
        except (GraphQLCallError, httpx.HTTPError) as exc:
            raise SetupError(f"{command.label}: setup failed: {exc}", server.log_tail()) from exc
        if server.process.poll() is not None:
            raise ServerError(f"{command.label} died during the run", server.log_tail())
    return side


# --- the verdict -------------------------------------------------------------------------------


SERIES: dict[str, tuple[Callable[[dict[str, Any]], float | None], ClimbRule]] = {
    "server_rss_mib": (lambda s: s["server_rss_mib"], SERVER_RSS_RULE),
    "children_pss_mib": (lambda s: s["children_pss_mib"], CHILDREN_PSS_RULE),
    "p99_ms": (lambda s: s["p99_ms"], P99_RULE),
    "server_fds": (lambda s: s["server_fds"], FDS_RULE),
}


def judge(side: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each series' drift, and why the side failed (empty: it passed)."""
    samples = side["samples"]
    times = [s["t_s"] for s in samples]
    drifts = {
        name: drift(times, [read(s) for s in samples], rule)
        for name, (read, rule) in SERIES.items()
    }
    fds = drifts["server_fds"]
    if fds.get("climbing"):  # a few descriptors more is noise, not a leak
        growth = fds["last_third_median"] - fds["first_third_median"]
        fds["climbing"] = growth > FDS_MAX_GROWTH
        fds["max_growth"] = FDS_MAX_GROWTH
    failures = []
    if side["http_5xx"]:
        failures.append(f"{side['http_5xx']} HTTP 5xx responses")
    if side["requests"] and side["errors"] / side["requests"] > MAX_ERROR_RATE:
        failures.append(f"error rate {side['errors'] / side['requests']:.4f} > {MAX_ERROR_RATE}")
    if not side["requests"]:
        failures.append("no request completed")
    for name, result in drifts.items():
        if result.get("climbing"):
            late, limit = result["late_slope_per_min"], result["max_late_slope_per_min"]
            failures.append(
                f"{name} keeps climbing: x{result['ratio']} (limit {result['max_ratio']}), "
                f"{late}/min late (limit {limit})"
            )
    return drifts, failures


def _drift_ratio(chirp: dict[str, Any], baseline: dict[str, Any], name: str) -> float | None:
    top, bottom = chirp[name].get("ratio"), baseline[name].get("ratio")
    return round(top / bottom, 3) if top is not None and bottom else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    background = background_cpu_cores(BACKGROUND_SAMPLE_S)
    if background is not None and background > BACKGROUND_WARN_CORES:
        _log(f"warning: other processes keep {background} cores busy; the numbers will be noisy")
    with data_dir(args.data_dir) as directory:
        if args.chirp_app is not None:
            command = uvicorn_command("chirp", args.chirp_app, free_port())
            chirp = _run_side(command, args, rate=None)
        else:
            command = chirp_command(directory, free_port())
            _log(f"seeding: chirp seed {' '.join(SEED)}")
            _log(f"seeded in {seed_data(command, SEED):.1f} s")
            chirp = _run_side(command, args, rate=None, data_dir=directory.resolve())
    baseline = _run_side(
        uvicorn_command("baseline", BASELINE_APP, free_port()), args, chirp["rate_rps"]
    )
    chirp_drift, failures = judge(chirp)
    baseline_drift, baseline_failures = judge(baseline)
    for failure in failures:
        _log(f"FAIL: chirp: {failure}")
    return {
        "ok": not failures,
        "failures": failures,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "window_s": WINDOW_S,
        "concurrency": args.concurrency,
        "mix": MIX,
        "rate_rps": chirp["rate_rps"],
        "chirp": {**chirp, "drift": chirp_drift},
        "baseline": {
            **baseline,
            "drift": baseline_drift,
            "would_fail": baseline_failures,
            "app": BASELINE_APP,
        },
        "ratio": {
            "median_window_p99": _ratio(chirp, baseline, "median_window_p99_ms"),
            "worst_window_p99": _ratio(chirp, baseline, "worst_window_p99_ms"),
            **{
                f"{name}_drift": _drift_ratio(chirp_drift, baseline_drift, name)
                for name in ("server_rss_mib", "p99_ms", "server_fds")
            },
        },
        "thresholds": {
            "max_error_rate": MAX_ERROR_RATE,
            **{name: vars(rule) for name, (_, rule) in SERIES.items()},
            "server_fds_max_growth": FDS_MAX_GROWTH,
        },
        "env": {
            **environment(args.chirp_app, background),
            "client": "asyncio+httptools keep-alive: closed loop for the peak probe, "
            "paced (open loop, latency from each request's due time) for the soak",
        },
    }


def _ratio(chirp: dict[str, Any], baseline: dict[str, Any], key: str) -> float | None:
    top, bottom = chirp.get(key), baseline.get(key)
    return round(top / bottom, 3) if top is not None and bottom else None


SCENARIO = Measurement(
    name="soak",
    summary="DeathStarBench mix (60/30/10) at half the peak rate for --duration; drift verdict",
    run=run,
)
