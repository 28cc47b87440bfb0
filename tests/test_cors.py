"""Cross-origin access: browsers on configured origins may call the API and
open websockets; pages of any other site may do neither."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chirp.app import create_app
from chirp.config import Settings
from chirp.runtime import Runtime
from tests.live import TRANSPORT_WS, running_server

FRONTEND = "http://localhost:3000"
ELSEWHERE = "https://evil.example"
TYPENAME = "{ __typename }"
PREFLIGHT_HEADERS = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


@pytest.fixture
async def cors_client(clean: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    settings = clean.settings.model_copy(
        update={"cors_origins": f"{FRONTEND}, https://app.example"}
    )
    app = create_app(settings, runtime=clean)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http,
    ):
        yield http


async def test_a_configured_origin_passes_the_preflight(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options(
        "/graphql", headers={"origin": FRONTEND, **PREFLIGHT_HEADERS}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert set(response.headers["access-control-allow-methods"].replace(" ", "").split(",")) >= {
        "GET",
        "POST",
    }
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


async def test_a_configured_origin_reads_responses(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.post(
        "/graphql", json={"query": TYPENAME}, headers={"origin": FRONTEND}
    )
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_another_origin_is_refused(cors_client: httpx.AsyncClient) -> None:
    preflight = await cors_client.options(
        "/graphql", headers={"origin": ELSEWHERE, **PREFLIGHT_HEADERS}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    response = await cors_client.post(
        "/graphql", json={"query": TYPENAME}, headers={"origin": ELSEWHERE}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_without_configured_origins_no_cross_origin_access(client: httpx.AsyncClient) -> None:
    preflight = await client.options("/graphql", headers={"origin": FRONTEND, **PREFLIGHT_HEADERS})
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    response = await client.post("/graphql", json={"query": TYPENAME}, headers={"origin": FRONTEND})
    assert "access-control-allow-origin" not in response.headers


async def handshake(url: str, origin: str | None) -> int:
    """The HTTP status of a websocket handshake sent with ``origin`` (101 when accepted)."""
    try:
        async with connect(url, subprotocols=[TRANSPORT_WS], origin=origin):  # type: ignore[arg-type,list-item]
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_websockets_check_the_origin(clean: Runtime) -> None:
    settings = clean.settings.model_copy(update={"cors_origins": FRONTEND})
    async with running_server(clean, settings=settings) as url:
        assert await handshake(url, FRONTEND) == 101
        assert await handshake(url, None) == 101  # native clients send no Origin
        same_origin = "http://" + url.removeprefix("ws://").split("/")[0]
        assert await handshake(url, same_origin) == 101  # GraphiQL served by Chirp
        assert await handshake(url, ELSEWHERE) == 403
        assert await handshake(url, "null") == 403


async def test_websockets_refuse_other_sites_when_nothing_is_configured(clean: Runtime) -> None:
    async with running_server(clean) as url:
        assert await handshake(url, FRONTEND) == 403
        assert await handshake(url, None) == 101


@pytest.mark.parametrize("value", ["localhost:3000", "http://a.example/path", "ftp://"])
def test_a_malformed_origin_setting_is_refused_at_startup(value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(cors_origins=value)


def test_the_origin_setting_is_a_comma_separated_list() -> None:
    settings = Settings(cors_origins=" http://localhost:3000 ,https://app.example,")
    assert settings.cors_origin_list == ["http://localhost:3000", "https://app.example"]
