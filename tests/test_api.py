"""The HTTP surface: GraphQL over POST and GET, GraphiQL, error codes, guards."""

from __future__ import annotations

import logging

import httpx
import pytest
from graphql import get_introspection_query

from chirp.services import accounts
from tests.support import error_codes, gql, sign_up

VIEWER = "{ viewer { handle } }"
USER = "query User($handle: String!) { user(handle: $handle) { handle } }"


async def test_healthz_answers_without_touching_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_each_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": "ok", "redis": "ok", "graph": "ok"}


async def test_queries_work_over_get(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "getter")
    response = await client.get(
        "/graphql", params={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"handle": "getter"}}}


async def test_mutations_are_refused_over_get(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "mutation { logOut }"})
    assert response.status_code == 405


async def test_graphiql_is_served_to_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": VIEWER})
    assert len(response.headers["x-request-id"]) == 32
    echoed = await client.post(
        "/graphql", json={"query": VIEWER}, headers={"X-Request-ID": "trace-123"}
    )
    assert echoed.headers["x-request-id"] == "trace-123"


async def test_syntax_errors_are_bad_user_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ viewer { handle "})
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_unknown_fields_are_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ viewer { password } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_wrong_variable_types_are_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await gql(client, USER, {"handle": 42})
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_an_over_deep_query_is_rejected(client: httpx.AsyncClient) -> None:
    depth = 13
    query = "{ " + " { ".join(["viewer"] + [f"f{i}" for i in range(depth - 1)])
    query += " { handle }" + " }" * depth
    body = await gql(client, query)
    depth_errors = [e for e in body["errors"] if "exceeds maximum operation depth" in e["message"]]
    assert depth_errors and depth_errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in body  # refused before execution: no data entry at all


async def test_an_over_long_query_is_rejected(client: httpx.AsyncClient) -> None:
    query = "{ viewer { " + "handle " * 5_000 + "} }"
    body = await gql(client, query)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "tokens" in body["errors"][0]["message"]


async def test_an_over_aliased_query_is_rejected(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: viewer {{ handle }}" for i in range(31)) + " }"
    body = await gql(client, query)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "alias" in body["errors"][0]["message"]
    allowed = "{ " + " ".join(f"a{i}: viewer {{ handle }}" for i in range(30)) + " }"
    assert "errors" not in await gql(client, allowed)


async def test_introspection_fits_within_the_guards(client: httpx.AsyncClient) -> None:
    body = await gql(client, get_introspection_query(descriptions=True))
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_internal_errors_are_masked_and_logged_with_the_request_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail from deep inside")

    monkeypatch.setattr(accounts, "user_by_handle", broken)
    with caplog.at_level(logging.ERROR, logger="chirp.errors"):
        response = await client.post("/graphql", json={"query": USER, "variables": {"handle": "x"}})
    body = response.json()
    assert "secret detail" not in response.text
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    [record] = caplog.records
    assert record.request_id == response.headers["x-request-id"]
    assert record.exc_info and "secret detail" in str(record.exc_info[1])


async def test_client_errors_are_not_logged_as_failures(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        body = await gql(client, "mutation { logOut }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
