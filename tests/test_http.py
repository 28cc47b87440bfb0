"""GraphQL over HTTP: media types, status codes, and coded errors for every
transport-level failure (the graphql-http audit checks the spec's list too)."""

from __future__ import annotations

import json

import httpx
import pytest

from chirp.graphql_http import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, negotiate
from tests.support import PASSWORD, SIGN_UP

TYPENAME = "{ __typename }"
UNKNOWN_FIELD = "{ noSuchField }"
SIGN_UP_ADA = f'mutation {{ signUp(handle: "ada", password: "{PASSWORD}") {{ token }} }}'
SUBSCRIBE = "subscription { trends { hashtag } }"
TWO_OPERATIONS = "query A { __typename } query B { __typename }"
#: A viewer query whose field errors surface during execution (token revoked).
VIEWER = "{ viewer { handle } }"

ACCEPT_GRJ = {"accept": GRAPHQL_RESPONSE_JSON}
ACCEPT_JSON = {"accept": APPLICATION_JSON}


def only_error(response: httpx.Response) -> dict:
    body = response.json()
    assert "data" not in body, body
    (error,) = body["errors"]
    return error


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        (APPLICATION_JSON, APPLICATION_JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, {APPLICATION_JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, {APPLICATION_JSON}", APPLICATION_JSON),
        (f"{APPLICATION_JSON}, {GRAPHQL_RESPONSE_JSON}", APPLICATION_JSON),
        (f"text/html, {GRAPHQL_RESPONSE_JSON};q=0.8", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0", APPLICATION_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=nonsense", APPLICATION_JSON),
    ],
)
def test_the_response_type_follows_accept(accept: str | None, expected: str) -> None:
    assert negotiate(accept) == expected


async def test_graphql_response_json_is_answered_when_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": TYPENAME}, headers=ACCEPT_GRJ)
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert response.json() == {"data": {"__typename": "Query"}}
    assert "accept" in response.headers["vary"].lower()


async def test_application_json_stays_the_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": TYPENAME})
    assert response.headers["content-type"] == APPLICATION_JSON
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("document", ["{", UNKNOWN_FIELD])
async def test_a_document_failing_before_execution_is_400_without_data(
    client: httpx.AsyncClient, document: str
) -> None:
    refused = await client.post("/graphql", json={"query": document}, headers=ACCEPT_GRJ)
    assert refused.status_code == 400
    assert only_error(refused)["extensions"]["code"] == "BAD_USER_INPUT"
    legacy = await client.post("/graphql", json={"query": document}, headers=ACCEPT_JSON)
    assert legacy.status_code == 200
    assert only_error(legacy)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_errors_during_execution_keep_data_and_200(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": VIEWER},
        headers={**ACCEPT_GRJ, "authorization": "Bearer not-a-live-token"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"viewer": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


TRANSPORT_FAILURES = {
    "bad JSON": {"content": b'{"query": ', "headers": {"content-type": APPLICATION_JSON}},
    "invalid UTF-8": {
        "content": b'{"query": "\xff"}',
        "headers": {"content-type": "application/json"},
    },
    "nested too deep": {"content": b"[" * 100_000, "headers": {"content-type": APPLICATION_JSON}},
    "a JSON string body": {"json": "x"},
    "a null body": {"content": b"null", "headers": {"content-type": APPLICATION_JSON}},
    "a number body": {"json": 123},
    "a batch": {"json": [{"query": TYPENAME}, {"query": TYPENAME}]},
    "no query": {"json": {"qeury": TYPENAME}},
    "a non-string query": {"json": {"query": 0}},
    "variables not an object": {"json": {"query": TYPENAME, "variables": "x"}},
    "operationName not a string": {"json": {"query": TYPENAME, "operationName": False}},
    "extensions not an object": {"json": {"query": TYPENAME, "extensions": ["x"]}},
    "an unknown operationName": {"json": {"query": TWO_OPERATIONS, "operationName": "C"}},
    "a subscription over POST": {"json": {"query": SUBSCRIBE}},
}


@pytest.mark.parametrize("failure", list(TRANSPORT_FAILURES))
async def test_transport_failures_are_coded_json_errors(
    client: httpx.AsyncClient, failure: str
) -> None:
    request = TRANSPORT_FAILURES[failure]
    for accept, status in ((GRAPHQL_RESPONSE_JSON, 400), (APPLICATION_JSON, 400)):
        headers = {**request.get("headers", {}), "accept": accept}
        kwargs = {key: value for key, value in request.items() if key != "headers"}
        response = await client.post("/graphql", headers=headers, **kwargs)
        assert response.status_code == status, (accept, response.text)
        assert response.headers["content-type"] == accept
        error = only_error(response)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["message"] and "Traceback" not in error["message"]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/graphql", "multipart/form-data"]
)
async def test_an_unsupported_body_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(
        "/graphql", content=json.dumps({"query": TYPENAME}), headers=headers
    )
    assert response.status_code == 415
    assert only_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_mutation_over_get_is_405_and_changes_nothing(client: httpx.AsyncClient) -> None:
    for accept in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON):
        response = await client.get(
            "/graphql", params={"query": SIGN_UP_ADA}, headers={"accept": accept}
        )
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert only_error(response)["extensions"]["code"] == "BAD_USER_INPUT"
    lookup = await client.post("/graphql", json={"query": '{ user(handle: "ada") { id } }'})
    assert lookup.json() == {"data": {"user": None}}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_a_coded_405(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/graphql", json={"query": TYPENAME})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert only_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_queries_run_over_get_with_variables(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query Q($h: String!) { user(handle: $h) { id } }",
            "variables": json.dumps({"h": "nobody"}),
            "operationName": "Q",
        },
        headers=ACCEPT_GRJ,
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"user": None}}


async def test_a_get_with_bad_variables_json_is_a_coded_error(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": TYPENAME, "variables": "{"}, headers=ACCEPT_GRJ
    )
    assert response.status_code == 400
    assert only_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_api_get_without_a_query_is_not_answered_with_html(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"accept": "*/*"})
    assert response.headers["content-type"] == APPLICATION_JSON
    assert only_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_browser_get_is_answered_with_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_signing_up_still_works_over_post(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": SIGN_UP, "variables": {"handle": "ada", "password": PASSWORD}},
        headers=ACCEPT_GRJ,
    )
    assert response.status_code == 200
    assert response.json()["data"]["signUp"]["user"]["handle"] == "ada"
