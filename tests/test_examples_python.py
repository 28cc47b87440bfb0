"""examples/python/client.py, run as a user would: a subprocess against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from chirp.runtime import Runtime
from tests.live import http_url, running_server

CLIENT = Path(__file__).resolve().parent.parent / "examples" / "python" / "client.py"
#: Sign-up (argon2), two tweets and a websocket round trip take a few seconds.
CLIENT_SECONDS = 60.0


def hermetic_environment() -> dict[str, str]:
    """This process's environment without the client's own settings."""
    return {k: v for k, v in os.environ.items() if k not in ("CHIRP_URL", "CHIRP_HANDLE_PREFIX")}


async def run_client(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CLIENT),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**hermetic_environment(), **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLIENT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{CLIENT.name} did not finish within {CLIENT_SECONDS} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_second_tweet_arrives_over_the_subscription(clean: Runtime) -> None:
    async with running_server(clean) as ws_url:
        code, out, err = await run_client(http_url(ws_url), "ci")
    assert code == 0, err
    result = json.loads(out)
    assert result["handle"].startswith("ci_")
    first, second = result["posted"]
    assert first["hashtags"] == ["chirp"]
    # Read until the second tweet; the first may come too (fan-out is a worker's).
    *before, last = result["received"]
    assert [tweet["id"] for tweet in before] in ([], [first["id"]])
    assert last["id"] == second["id"]
    assert last["text"] == second["text"] == "This one arrives over the websocket #chirp"
    assert last["author"] == {"handle": result["handle"]}


async def test_reruns_take_new_handles_and_the_url_may_come_from_the_environment(
    clean: Runtime,
) -> None:
    async with running_server(clean) as ws_url:
        runs = [await run_client(env={"CHIRP_URL": http_url(ws_url)}) for _ in range(2)]
    assert [code for code, _, _ in runs] == [0, 0], [err for _, _, err in runs]
    handles = {json.loads(out)["handle"] for _, out, _ in runs}
    assert len(handles) == 2 and all(handle.startswith("py_") for handle in handles)


async def test_failures_exit_non_zero_with_the_reason(clean: Runtime) -> None:
    async with running_server(clean) as ws_url:
        url = http_url(ws_url)
    # The server is gone now: nothing listens on that port.
    code, out, err = await run_client(url)
    assert code == 1 and out == ""
    assert f"cannot talk to {url}" in err
