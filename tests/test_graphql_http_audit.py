"""The GraphQL-over-HTTP conformance audit of graphql-http (the reference
implementation's own checks), run with Node against a real server: every MUST
and every SHOULD passes. The MAYs are reported, not required.

Needs ``node`` and ``tests/js/node_modules`` (``make test-engines`` installs it
from the pinned tests/js/package-lock.json); skips without them."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from chirp.runtime import Runtime
from tests.live import http_url, running_server

JS_DIR = Path(__file__).parent / "js"
AUDIT_SCRIPT = JS_DIR / "audit.mjs"
NODE = shutil.which("node")
#: The whole audit takes a second or two; this only stops a hung run.
AUDIT_TIMEOUT_SECONDS = 90.0
#: Of a failing audit's response body, what the printed summary shows.
SUMMARY_BODY_CHARS = 300

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (needed for the audit)"),
    pytest.mark.skipif(
        not (JS_DIR / "node_modules").is_dir(),
        reason="tests/js/node_modules is missing: run `make test-engines`",
    ),
]

#: The audits of graphql-http 1.23.1 (tests/js/package-lock.json) by id; an
#: upgrade that changes them fails test_the_audit_list_is_the_pinned_one.
MUST = {
    "4655": "MUST accept application/json and match the content-type",
    "82A3": "MUST use utf-8 encoding when responding",
    "BF61": "MUST accept utf-8 encoded request",
    "78D5": "MUST assume utf-8 in request if encoding is unspecified",
    "2C94": "MUST accept POST requests",
    "03D4": "MUST accept application/json POST requests",
    "13EE": "MUST allow string {query} parameter when accepting application/json",
    "B8B3": "MUST allow string {operationName} parameter when accepting application/json",
    "0220": "MUST allow null {variables} parameter when accepting application/json",
    "0221": "MUST allow null {operationName} parameter when accepting application/json",
    "0222": "MUST allow null {extensions} parameter when accepting application/json",
    "28B9": "MUST allow map {variables} parameter when accepting application/json",
    "1B7A": "MUST allow map {extensions} parameter when accepting application/json",
}
_JSON = "when accepting application/json"
_GRJ = "when accepting application/graphql-response+json"
SHOULD = {
    "22EB": "SHOULD accept application/graphql-response+json and match the content-type",
    "47DE": "SHOULD accept */* and use application/json for the content-type",
    "80D8": "SHOULD assume application/json content-type when accept is missing",
    "9ABE": "SHOULD respond with 4xx status code if content-type is not supplied on POST requests",
    "34A2": f"SHOULD allow string {{query}} parameter {_GRJ}",
    "8161": f"SHOULD allow string {{operationName}} parameter {_GRJ}",
    "94B0": f"SHOULD allow null {{variables}} parameter {_GRJ}",
    "94B1": f"SHOULD allow null {{operationName}} parameter {_GRJ}",
    "94B2": f"SHOULD allow null {{extensions}} parameter {_GRJ}",
    "2EA1": f"SHOULD allow map {{variables}} parameter {_GRJ}",
    "428F": f"SHOULD allow map {{extensions}} parameter {_GRJ}",
    "BCF8": f"SHOULD use 400 status code on JSON parsing failure {_JSON}",
    "B7N8": f"SHOULD use 400 status code on JSON parsing failure {_GRJ}",
    "572B": f"SHOULD use 200 status code on document parsing failure {_JSON}",
    "FDE2": f"SHOULD use 200 status code on document validation failure {_JSON}",
    "7B9B": f"SHOULD use a status code of 200 on variable coercion failure {_JSON}",
    "865D": f"SHOULD use 4xx or 5xx status codes on document parsing failure {_GRJ}",
    "556A": f"SHOULD use 400 status code on document parsing failure {_GRJ}",
    "D586": f"SHOULD not contain the data entry on document parsing failure {_GRJ}",
    "51FE": f"SHOULD use 4xx or 5xx status codes on document validation failure {_GRJ}",
    "74FF": f"SHOULD use 400 status code on document validation failure {_GRJ}",
    "5E5B": f"SHOULD not contain the data entry on document validation failure {_GRJ}",
    "86EE": f"SHOULD use a status code of 400 on variable coercion failure {_GRJ}",
}


async def run_audit(url: str) -> dict[str, Any]:
    """``node tests/js/audit.mjs url``, decoded (it prints one JSON object)."""
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(AUDIT_SCRIPT),
        url,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), AUDIT_TIMEOUT_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"the audit did not finish within {AUDIT_TIMEOUT_SECONDS} s") from None
    assert proc.returncode == 0, f"audit.mjs exited {proc.returncode}:\n{stderr.decode()}"
    return json.loads(stdout)


def pinned_version() -> str:
    package = JS_DIR / "node_modules" / "graphql-http" / "package.json"
    return json.loads(package.read_text())["version"]


def summary(report: dict[str, Any]) -> str:
    """Counts per level, then each audit that did not pass with the server's answer."""
    counts = report["counts"]
    levels = ", ".join(
        f"{level} {counts[level]['passed']}/{counts[level]['total']}"
        for level in ("MUST", "SHOULD", "MAY")
    )
    lines = [f"graphql-http {pinned_version()} server audit: {levels}"]
    for result in report["results"]:
        if result["status"] == "ok":
            continue
        lines.append(f"  {result['status']:6} {result['id']} {result['name']}: {result['reason']}")
        if answer := result.get("response"):
            body = answer["body"]
            body = body if len(body) <= SUMMARY_BODY_CHARS else body[:SUMMARY_BODY_CHARS] + "…"
            lines.append(
                f"         server answered {answer['status']} {answer['contentType']}: {body}"
            )
    return "\n".join(lines)


@pytest.fixture(scope="module")
async def report(runtime: Runtime) -> dict[str, Any]:
    """One audit run for the module (it only queries ``{ __typename }``-like
    documents, so the stores need not be empty)."""
    async with running_server(runtime) as ws_url:
        audited = await run_audit(http_url(ws_url))
    print("\n" + summary(audited))
    return audited


def test_the_audit_list_is_the_pinned_one(report: dict[str, Any]) -> None:
    by_id = {result["id"]: result["name"] for result in report["results"]}
    assert {i: n for i, n in by_id.items() if n.startswith("MUST ")} == MUST
    assert {i: n for i, n in by_id.items() if n.startswith("SHOULD ")} == SHOULD


@pytest.mark.parametrize(
    "audit_id", [*(f"MUST-{i}" for i in MUST), *(f"SHOULD-{i}" for i in SHOULD)]
)
def test_audit_passes(report: dict[str, Any], audit_id: str) -> None:
    level, _, wanted = audit_id.partition("-")
    [result] = [r for r in report["results"] if r["id"] == wanted]
    answer = result.get("response") or {}
    assert result["status"] == "ok", (
        f"{wanted} {result['name']}: {result.get('reason')}; the server answered "
        f"{answer.get('status')} {answer.get('contentType')}: {answer.get('body')}"
    )
    assert result["name"].startswith(level)


def test_every_must_and_should_passes(report: dict[str, Any]) -> None:
    counts = report["counts"]
    assert counts["MUST"] == {"passed": 13, "total": 13}, summary(report)
    assert counts["SHOULD"] == {"passed": 23, "total": 23}, summary(report)
