"""The access log never records a query string (a GET can carry a password)."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest
import uvicorn

from chirp.app import create_app
from chirp.request_id import redact_access_log
from chirp.runtime import Runtime
from tests.support import eventually

SECRET = "hunter2-correct-horse"
LOG_IN_OVER_GET = f'mutation {{ logIn(handle: "ada", password: "{SECRET}") {{ token }} }}'


async def test_a_password_in_a_get_never_reaches_the_log(
    clean: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    redact_access_log()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(runtime=clean), log_config=None, access_log=True, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:

        async def started() -> bool:
            return server.started

        await eventually(started)
        with caplog.at_level(logging.INFO, logger="uvicorn.access"):
            async with httpx.AsyncClient() as http:
                response = await http.get(
                    f"http://127.0.0.1:{port}/graphql", params={"query": LOG_IN_OVER_GET}
                )

            async def logged() -> bool:
                return any(r.name == "uvicorn.access" for r in caplog.records)

            await eventually(logged)
    finally:
        server.should_exit = True
        await task
        sock.close()
    assert response.status_code == 405
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("GET /graphql?…" in line and "405" in line for line in lines), lines
    assert not any(SECRET in r.getMessage() for r in caplog.records)
