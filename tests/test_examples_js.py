"""The JavaScript examples (examples/js) run with Node against a real server:
graphql-ws delivers a posted tweet over the ``homeFeed`` subscription, and
Apollo Client's persisted-query link ends up sending a query as a GET that
carries only its hash, answered with data.

Needs ``node`` and ``examples/js/node_modules`` (``make test-engines`` installs
it from the pinned examples/js/package-lock.json); skips without them."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chirp.runtime import Runtime
from tests.live import http_url, running_server

EXAMPLES_DIR = Path(__file__).parent.parent / "examples" / "js"
NODE = shutil.which("node")
#: Each example takes a few seconds; this only stops a hung one.
EXAMPLE_TIMEOUT_SECONDS = 60.0

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (needed for the examples)"),
    pytest.mark.skipif(
        not (EXAMPLES_DIR / "node_modules").is_dir(),
        reason="examples/js/node_modules is missing: run `make test-engines`",
    ),
]


async def run_example(script: str, *args: str) -> dict[str, Any]:
    """``node examples/js/<script> args...``; the JSON object it prints."""
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(EXAMPLES_DIR / script),
        *args,
        cwd=EXAMPLES_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), EXAMPLE_TIMEOUT_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(
            f"{script} did not finish within {EXAMPLE_TIMEOUT_SECONDS} s"
        ) from None
    assert proc.returncode == 0, (
        f"{script} exited {proc.returncode}\nstderr:\n{stderr.decode()}\nstdout:\n{stdout.decode()}"
    )
    return json.loads(stdout)


async def test_subscribe_example_receives_the_posted_tweet(clean: Runtime) -> None:
    async with running_server(clean) as ws_url:
        url = http_url(ws_url)
        first = await run_example("subscribe.mjs", url, "jsdemo")
        # The same prefix again logs in to the account the first run created.
        again = await run_example("subscribe.mjs", url, "jsdemo")
    for run in (first, again):
        delivered = run["delivered"]
        posted = {tweet["id"]: tweet["text"] for tweet in run["posted"]}
        print(f"\nsubscribe.mjs: posted {len(posted)}, delivered {delivered}")
        assert run["user"]["handle"] == "jsdemo_ws"
        assert delivered["author"] == {"handle": "jsdemo_ws"}
        assert posted.get(delivered["id"]) == delivered["text"]
        assert delivered["text"].startswith("Hello over graphql-ws from @jsdemo_ws")
    assert again["user"] == first["user"]


def describe(request: dict[str, Any]) -> str:
    carried = "query+hash" if request["sentQuery"] else "hash only"
    outcome = ", ".join(request["errors"]) or ("data" if request["gotData"] else "nothing")
    return (
        f"{request['method']:4} {request['operationName']:12} {carried:10} -> "
        f"{request['status']} {request['contentType']}: {outcome}"
    )


async def test_apollo_example_sends_a_hash_only_get(clean: Runtime) -> None:
    async with running_server(clean) as ws_url:
        run = await run_example("apollo.mjs", http_url(ws_url), "jsdemo")
    requests = run["requests"]
    print("\napollo.mjs requests:\n" + "\n".join(describe(r) for r in requests))

    tweet = run["tweet"]
    assert tweet["hashtags"] == [run["tag"]]
    for result in run["runs"]:
        assert [node["id"] for node in result] == [tweet["id"]]

    # Mutations never go out as GET.
    assert all(r["method"] == "POST" for r in requests if r["operationName"] != "HashtagFeed")
    feed = [r for r in requests if r["operationName"] == "HashtagFeed"]
    hashes = {r["sha256Hash"] for r in feed}
    assert len(hashes) == 1 and None not in hashes, feed
    # First run: the hash alone over GET is not known yet; the link sends the
    # document with the hash and the server stores it.
    unknown, registered, by_hash = feed
    assert (unknown["method"], unknown["sentQuery"]) == ("GET", False), describe(unknown)
    assert unknown["errors"] == ["PERSISTED_QUERY_NOT_FOUND"], describe(unknown)
    assert unknown["status"] in (200, 404), describe(unknown)
    assert registered["sentQuery"] and registered["gotData"], describe(registered)
    assert registered["errors"] == [], describe(registered)
    # Second run: a GET with the hash and no document, answered with data.
    assert (by_hash["method"], by_hash["sentQuery"]) == ("GET", False), describe(by_hash)
    assert "query" not in parse_qs(urlsplit(by_hash["url"]).query), by_hash["url"]
    assert by_hash["status"] == 200, describe(by_hash)
    assert by_hash["gotData"] and by_hash["errors"] == [], describe(by_hash)
