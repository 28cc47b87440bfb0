"""The benchmark harness: its pure parts, the load generator, and end-to-end runs.

The end-to-end runs are short (1 s measured per side) and only check that the
harness produces a well-formed report with both sides; they say nothing about
performance.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
from typing import Any

import pytest

import bench
from bench import scenarios
from bench.cli import EXIT_SERVER_FAILED, build_parser
from bench.graphql import graphql_check, graphql_request
from bench.loadgen import LoadResult, encode_request, run_async, run_load
from bench.scenario import Request
from bench.stats import percentile, ratio, summarize

#: Settings for end-to-end runs: long enough for a few hundred requests, short
#: enough that two server starts plus both runs stay within seconds.
E2E_ARGS = ["--duration", "1", "--warmup", "0.5", "--concurrency", "4"]
SIDE_KEYS = {"requests", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "errors"}


# --- pure parts ---------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([7.0], 99) == 7.0
    # 10 samples: p99 is the largest, p90 the ninth (an observed value, not interpolated)
    ten = [float(v) for v in range(10, 110, 10)]
    assert percentile(ten, 99) == 100.0
    assert percentile(ten, 90) == 90.0
    assert percentile(ten, 50) == 50.0


@pytest.mark.parametrize("bad", [-1, 100.5])
def test_percentile_rejects_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError):
        percentile([1, 2, 3], bad)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summary_shape_and_units() -> None:
    result = LoadResult(
        latencies_ns=[3_000_000, 1_000_000, 2_000_000, 4_000_000],
        errors=1,
        window_s=2.0,
        cpu_s={"client": 0.5, "machine": 3.0},
    )
    summary = summarize(result)
    assert SIDE_KEYS <= summary.keys()
    assert summary["requests"] == 4
    assert summary["rps"] == 2.0
    assert summary["p50_ms"] == 2.0
    assert summary["p99_ms"] == 4.0
    assert summary["mean_ms"] == 2.5
    assert summary["errors"] == 1
    assert summary["client_cpu_cores"] == 0.25
    assert summary["machine_cpu_cores"] == 1.5
    json.dumps(summary)  # serialisable as is


def test_summary_of_an_empty_window() -> None:
    summary = summarize(LoadResult([], errors=0, window_s=1.0, cpu_s={"machine": None}))
    assert summary["requests"] == 0
    assert summary["p50_ms"] is None
    assert summary["machine_cpu_cores"] is None


def test_ratio_is_chirp_over_baseline() -> None:
    chirp = {"rps": 500.0, "p50_ms": 4.0, "p99_ms": 12.0}
    baseline = {"rps": 1000.0, "p50_ms": 2.0, "p99_ms": 4.0}
    assert ratio(chirp, baseline) == {"rps": 0.5, "p50": 2.0, "p99": 3.0}
    assert ratio(chirp, {"rps": 0.0, "p50_ms": None, "p99_ms": 4.0})["rps"] is None


def test_encode_request() -> None:
    request = graphql_request("{ viewer { id } }", token="t0k")
    wire = encode_request(request, "127.0.0.1:8000")
    head, body = wire.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /graphql HTTP/1.1"
    assert "Host: 127.0.0.1:8000" in lines
    assert "Authorization: Bearer t0k" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {"query": "{ viewer { id } }"}
    with pytest.raises(ValueError):
        encode_request(Request("GET", "/", {"X-Evil": "a\r\nInjected: 1"}), "h")


def test_graphql_check() -> None:
    check = graphql_check("viewer")
    assert check(200, b'{"data":{"viewer":{"id":"1"}}}') is None
    assert "HTTP 500" in (check(500, b"oops") or "")
    assert "GraphQL errors" in (check(200, b'{"data":null,"errors":[{"message":"no"}]}') or "")
    assert "viewer is null" in (check(200, b'{"data":{"viewer":null}}') or "")
    assert "not JSON" in (check(200, b"<html>") or "")


def test_registry_has_viewer_with_an_importable_baseline() -> None:
    scenario = scenarios.get("viewer")
    module, _, attr = scenario.baseline_app.partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    with pytest.raises(KeyError):
        scenarios.get("no-such-scenario")


@pytest.mark.parametrize(
    "argv",
    [
        ["viewer", "--duration", "0"],
        ["viewer", "--duration", "100000"],
        ["viewer", "--concurrency", "0"],
        ["viewer", "--concurrency", "100000"],
        ["nope"],
    ],
)
def test_parser_rejects_unbounded_load(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)


def test_parser_defaults() -> None:
    args: argparse.Namespace = build_parser().parse_args(["viewer"])
    assert (args.duration, args.warmup, args.concurrency) == (10.0, 2.0, 32)


# --- load generator against a tiny local server ---------------------------------------------


async def _flaky_server_then_load() -> LoadResult:
    """A server answering 200, 500, then 200 with ``Connection: close``, in turn."""
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                served += 1
                status, close = [(200, False), (500, False), (200, True)][served % 3]
                reason = "OK" if status == 200 else "Internal Server Error"
                connection = "close" if close else "keep-alive"
                head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\n"
                writer.write(f"{head}Connection: {connection}\r\n\r\nok".encode())
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        return await run_load(
            "127.0.0.1",
            port,
            [Request("GET", "/")],
            lambda status, body: None if status == 200 else f"HTTP {status}",
            concurrency=3,
            warmup_s=0.1,
            duration_s=0.5,
        )


def test_load_generator_counts_errors_and_survives_closed_connections() -> None:
    result = run_async(_flaky_server_then_load)
    requests = len(result.latencies_ns)
    assert requests > 30
    # one response in three is a 500; closed connections are reopened, not errors
    assert requests / 3 - 5 <= result.errors <= requests / 3 + 5
    assert result.error_samples and result.error_samples[0] == "HTTP 500"
    client_cpu = result.cpu_s["client"]
    assert client_cpu is not None and client_cpu >= 0


# --- end to end -----------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = bench.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_complete_report(report: dict[str, Any], scenario: str) -> None:
    assert report["scenario"] == scenario
    for side in ("chirp", "baseline"):
        assert SIDE_KEYS <= report[side].keys(), side
        assert report[side]["requests"] > 0, side
        assert report[side]["errors"] == 0, side
    assert report["ratio"]["rps"] is not None and report["ratio"]["rps"] > 0
    assert report["env"]["cpu_count"] >= 1


@pytest.mark.timeout(60)
def test_harness_end_to_end_against_two_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole harness (processes, readiness, setup, load, report) without Chirp."""
    app = scenarios.get("viewer").baseline_app
    code, out, err = _run(capsys, ["viewer", *E2E_ARGS, "--chirp-app", app])
    assert code == 0, err
    _assert_complete_report(json.loads(out), "viewer")


@pytest.mark.timeout(60)
def test_a_server_that_fails_to_start_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, ["viewer", *E2E_ARGS, "--chirp-app", "no_such_module:app"])
    assert code == EXIT_SERVER_FAILED
    assert out == ""
    assert "no_such_module" in err  # the server's own output is shown


@pytest.mark.timeout(180)
@pytest.mark.parametrize("scenario", ["viewer", "user-timeline", "home-feed"])
def test_scenario_end_to_end_against_chirp(
    scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``chirp bench <scenario>`` against the real server (seeded first where the
    scenario asks), embedded mode: both sides answer every request correctly."""
    code, out, err = _run(capsys, [scenario, *E2E_ARGS])
    assert code == 0, err
    report = json.loads(out)
    _assert_complete_report(report, scenario)
    assert report["env"]["mode"] in ("embedded", "external", "mixed")


@pytest.mark.timeout(180)
def test_fan_out_measurement_runs_small(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chirp bench fan-out`` end to end, with 300 followers instead of 10,000."""
    from bench.scenarios import fan_out

    monkeypatch.setattr(fan_out, "FOLLOWERS", 300)
    monkeypatch.setattr(fan_out, "ROUNDS", 2)
    monkeypatch.setattr(fan_out, "VERIFY_SAMPLE", 20)
    code, out, err = _run(capsys, ["fan-out"])
    assert code == 0, err
    report = json.loads(out)
    assert report["followers"] == 300
    assert report["chirp"]["post_to_all_timelines"]["samples"] == 2
    assert report["chirp"]["timeline_inserts_per_s_one_worker"] > 0
    assert report["ratio"]["inserts_per_s"] > 0


@pytest.mark.timeout(180)
def test_celebrity_measurement_runs_small(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chirp bench celebrity`` end to end, with 500 followers instead of 100,000."""
    from bench.scenarios import celebrity

    monkeypatch.setattr(celebrity, "BIG_AUDIENCE", 500)
    monkeypatch.setattr(celebrity, "POSTS", 20)
    code, out, err = _run(capsys, ["celebrity"])
    assert code == 0, err
    report = json.loads(out)
    assert (report["chirp"]["followers"], report["chirp"]["samples"]) == (500, 20)
    assert (report["baseline"]["followers"], report["baseline"]["samples"]) == (10, 20)
    assert report["ratio"]["p50"] > 0


@pytest.mark.timeout(180)
def test_redirect_scenario_reports_the_cache_hit_rate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chirp bench redirect`` end to end with 50 links: every answer is the
    expected 302 (not followed), and Chirp's side carries its lookup counters."""
    from bench.scenarios import redirect

    monkeypatch.setattr(redirect, "LINKS", 50)
    code, out, err = _run(capsys, ["redirect", *E2E_ARGS])
    assert code == 0, err
    report = json.loads(out)
    _assert_complete_report(report, "redirect")
    stats = report["chirp"]["server_stats"]
    assert sum(stats["link_lookups"].values()) >= report["chirp"]["requests"]
    assert 0.9 < stats["cache_hit_rate"] <= 1.0
    assert "server_stats" not in report["baseline"]


@pytest.mark.timeout(180)
def test_trends_measurement_runs_small(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chirp bench trends`` end to end, with 500 events and 20 setup tweets."""
    from bench.scenarios import trends

    monkeypatch.setattr(trends, "EVENTS", 500)
    monkeypatch.setattr(trends, "SETUP_TWEETS", 20)
    monkeypatch.setattr(trends, "SETUP_AUTHORS", 2)
    code, out, err = _run(capsys, ["trends", *E2E_ARGS])
    assert code == 0, err
    report = json.loads(out)
    assert report["worker"]["events"] == 500
    assert report["worker"]["chirp"]["hashtag_uses_per_s_one_worker"] > 0
    assert report["worker"]["ratio"]["uses_per_s"] > 0
    for side in ("chirp", "baseline"):
        assert report["query"][side]["requests"] > 0 and report["query"][side]["errors"] == 0
    assert report["query"]["ratio"]["rps"] > 0


@pytest.mark.timeout(180)
def test_delivery_measurement_runs_small(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chirp bench delivery`` end to end with 10 subscribers and 2 rounds."""
    from bench.scenarios import delivery

    monkeypatch.setattr(delivery, "SUBSCRIBERS", 10)
    monkeypatch.setattr(delivery, "ROUNDS", 2)
    monkeypatch.setattr(delivery, "WARMUP_ROUNDS", 0)
    code, out, err = _run(capsys, ["delivery"])
    assert code == 0, err
    report = json.loads(out)
    for side in ("chirp", "baseline"):
        assert report[side]["deliveries"] == 20, side
        assert report[side]["since_sent"]["p50_ms"] > 0, side
    assert report["ratio"]["p50"] > 0


@pytest.mark.timeout(180)
def test_idle_sockets_measurement_runs_small(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chirp bench idle-sockets`` end to end with 40 sockets of 8 users."""
    from bench.scenarios import idle_sockets

    monkeypatch.setattr(idle_sockets, "CONNECTIONS", 40)
    monkeypatch.setattr(idle_sockets, "USERS", 8)
    code, out, err = _run(capsys, ["idle-sockets"])
    assert code == 0, err
    report = json.loads(out)
    for side in ("chirp", "baseline"):
        assert report[side]["connections"] == 40, side
        assert report[side]["rss_before_mib"] > 0 and report[side]["rss_after_mib"] > 0, side
    assert "rss_per_connection_kib" in report["ratio"]


@pytest.mark.timeout(240)
def test_soak_measurement_runs_small(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chirp bench soak`` end to end on a small seed: 20 s per side in 2 s
    windows after a 3 s peak probe. The drift verdict on so short a run is
    noise, so only the report's shape, the samples and the absence of 5xx
    are checked, and that the exit status follows ``ok``."""
    from bench.cli import EXIT_CHECK_FAILED
    from bench.scenarios import soak

    monkeypatch.setattr(soak, "SEED", ("reed98", "--tweets", "2000"))
    monkeypatch.setattr(soak, "READERS", 5)
    monkeypatch.setattr(soak, "WINDOW_S", 2.0)
    monkeypatch.setattr(soak, "PEAK_PROBE_S", 3.0)
    argv = ["soak", "--duration", "20", "--warmup", "2", "--concurrency", "8"]
    code, out, err = _run(capsys, argv)
    report = json.loads(out)
    assert code == (0 if report["ok"] else EXIT_CHECK_FAILED), err
    assert report["rate_rps"] > 0 and report["chirp"]["peak_probe"]["rps"] > 0
    for side in ("chirp", "baseline"):
        assert report[side]["http_5xx"] == 0, side
        assert report[side]["requests"] > 0, side
        samples = report[side]["samples"]
        assert len(samples) == 10, side
        assert all(s["server_rss_mib"] > 0 and s["server_fds"] > 0 for s in samples), side
        assert set(report[side]["drift"]) == {
            "server_rss_mib",
            "children_pss_mib",
            "p99_ms",
            "server_fds",
        }
    assert report["chirp"]["samples"][-1]["children"] > 0  # embedded Postgres and Redis
    assert "no request completed" not in report["failures"]
