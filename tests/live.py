"""A real server (uvicorn on a TCP port, with the workers) and a small websocket
client speaking both GraphQL subprotocols, for tests of live delivery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from chirp.app import create_app
from chirp.config import Settings
from chirp.runtime import Runtime
from chirp.workers.runner import running_workers
from tests.support import eventually

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)
#: How long a test waits for one message before failing.
RECEIVE_SECONDS = 10.0


@contextlib.asynccontextmanager
async def running_server(rt: Runtime, *, settings: Settings | None = None) -> AsyncIterator[str]:
    """Serve the app on a free local port, workers included; yield its ws URL
    (``http_url`` turns it into the HTTP one). ``settings`` overrides the
    runtime's for the app's own options (CORS origins, say)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings, runtime=rt)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws_ping_interval=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with running_workers(rt):

            async def started() -> bool:
                if task.done():
                    task.result()  # raises what stopped it
                return server.started

            await eventually(started)
            yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        sock.close()


def http_url(ws_url: str) -> str:
    """The HTTP URL of the endpoint whose websocket URL is ``ws_url``."""
    return "http" + ws_url.removeprefix("ws")


class GraphQLSocket:
    """One websocket connection speaking ``protocol``; messages come back in the
    graphql-transport-ws vocabulary (``next``/``error``/``complete``) either way."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.pings = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, url: str, protocol: str = TRANSPORT_WS, *, token: str | None = None
    ) -> AsyncIterator[GraphQLSocket]:
        async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            client = cls(ws, protocol)
            payload = {"authorization": f"Bearer {token}"} if token else {}
            await client.send({"type": "connection_init", "payload": payload})
            assert (await client.receive())["type"] == "connection_ack"
            yield client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def subscribe(self, op_id: str, query: str, variables: dict | None = None) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": op_id, "type": kind, "payload": payload})

    async def complete(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": op_id, "type": kind})

    async def receive(self, seconds: float = RECEIVE_SECONDS) -> dict[str, Any]:
        """The next protocol message, answering and counting keep-alives on the way."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), seconds))
            kind = message["type"]
            if kind == "ping":
                self.pings += 1
                await self.send({"type": "pong"})
            elif kind == "ka":
                self.pings += 1
            else:
                return {**message, "type": "next"} if kind == "data" else message

    async def next_data(self, op_id: str) -> dict[str, Any]:
        message = await self.receive()
        assert message.get("id") == op_id and message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]

    async def errors(self, op_id: str) -> list[dict[str, Any]]:
        """The errors an operation ended with (as ``error`` or as ``next`` with errors)."""
        message = await self.receive()
        assert message.get("id") == op_id, message
        if message["type"] == "error":
            return (
                message["payload"] if isinstance(message["payload"], list) else [message["payload"]]
            )
        assert message["type"] == "next" and message["payload"].get("errors"), message
        assert await self.receive() == {"id": op_id, "type": "complete"}
        return message["payload"]["errors"]


async def listeners(rt: Runtime, channel: str) -> int:
    """Processes subscribed to ``channel`` in Redis."""
    [(_, count)] = await rt.redis.pubsub_numsub(channel)
    return int(count)


async def until_listening(rt: Runtime, channel: str) -> None:
    """Wait until a subscription reached Redis (there is no protocol message for it)."""

    async def listening() -> bool:
        return await listeners(rt, channel) > 0

    await eventually(listening)
