"""Automatic persisted queries in Apollo's protocol, over POST and GET."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from chirp.errors import PersistedQueryNotFound
from chirp.graphql_http import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON
from chirp.persistence import persisted_queries as store
from chirp.runtime import Runtime
from chirp.services import persisted_queries
from chirp.services.persisted_queries import PersistedQueries
from tests.support import create_users

USER = "query User($handle: String!) { user(handle: $handle) { handle } }"
VARIABLES = {"handle": "ada"}
ADA = {"data": {"user": {"handle": "ada"}}}


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(document: str, *, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256(document)}}


def get_params(extensions: dict[str, Any], query: str | None = None) -> dict[str, str]:
    params = {"extensions": json.dumps(extensions), "variables": json.dumps(VARIABLES)}
    return {**params, "query": query} if query else params


@pytest.fixture
async def ada(clean: Runtime) -> None:
    await create_users(clean, ["ada"])


async def test_an_unknown_hash_is_persisted_query_not_found(
    client: httpx.AsyncClient, ada: None
) -> None:
    response = await client.post(
        "/graphql", json={"variables": VARIABLES, "extensions": persisted(USER)}
    )
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert "no-cache" in response.headers["cache-control"]
    modern = await client.post(
        "/graphql",
        json={"variables": VARIABLES, "extensions": persisted(USER)},
        headers={"accept": GRAPHQL_RESPONSE_JSON},
    )
    assert modern.status_code == 404
    assert modern.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_registering_then_running_by_hash_over_get(
    client: httpx.AsyncClient, ada: None
) -> None:
    extensions = persisted(USER)
    miss = await client.get("/graphql", params=get_params(extensions))
    assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    registered = await client.get("/graphql", params=get_params(extensions, USER))
    assert registered.json() == ADA
    for accept in (APPLICATION_JSON, GRAPHQL_RESPONSE_JSON):
        hit = await client.get(
            "/graphql", params=get_params(extensions), headers={"accept": accept}
        )
        assert hit.status_code == 200
        assert hit.json() == ADA


async def test_a_hash_that_does_not_match_the_query_is_refused_and_not_stored(
    client: httpx.AsyncClient, clean: Runtime, ada: None
) -> None:
    wrong = persisted("{ __typename }")
    response = await client.post(
        "/graphql", json={"query": USER, "variables": VARIABLES, "extensions": wrong}
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in response.json()
    assert await store.stored_count(clean.redis) == 0


@pytest.mark.parametrize(
    "extensions",
    [
        persisted(USER, version=2),
        {"persistedQuery": {"version": 1, "sha256Hash": "not-a-hash"}},
        {"persistedQuery": {"version": 1, "sha256Hash": 42}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "yes"},
    ],
)
async def test_a_malformed_persisted_query_is_bad_user_input(
    client: httpx.AsyncClient, clean: Runtime, extensions: dict[str, Any]
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": USER, "variables": VARIABLES, "extensions": extensions},
        headers={"accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await store.stored_count(clean.redis) == 0


async def test_a_document_registered_on_one_instance_runs_on_another(
    client: httpx.AsyncClient, clean: Runtime, ada: None
) -> None:
    """Redis is the shared store: a fresh process-local cache finds it there."""
    await client.post(
        "/graphql", json={"query": USER, "variables": VARIABLES, "extensions": persisted(USER)}
    )
    other = PersistedQueries()
    assert await other.document(clean, query=None, extensions=persisted(USER)) == USER


async def test_losing_redis_costs_one_round_trip(
    client: httpx.AsyncClient, clean: Runtime, ada: None
) -> None:
    fresh = PersistedQueries()
    await fresh.document(clean, query=USER, extensions=persisted(USER))
    await clean.redis.flushall()
    # this process still knows it ...
    assert await fresh.document(clean, query=None, extensions=persisted(USER)) == USER
    # ... another one asks once more, and the client's resend stores it again
    other = PersistedQueries()
    with pytest.raises(PersistedQueryNotFound):
        await other.document(clean, query=None, extensions=persisted(USER))
    await other.document(clean, query=USER, extensions=persisted(USER))
    assert await store.stored_count(clean.redis) == 1


async def test_the_store_keeps_the_most_recently_used_documents(clean: Runtime) -> None:
    documents = [f"{{ __typename q{i}: __typename }}" for i in range(5)]
    for document in documents:
        await store.put_document(
            clean.redis, sha256=sha256(document), document=document, max_documents=3
        )
        if document is documents[2]:  # used again: the oldest no longer
            assert await store.get_document(clean.redis, sha256=sha256(documents[0]))
    assert await store.stored_count(clean.redis) == 3
    kept = [await store.get_document(clean.redis, sha256=sha256(d)) for d in documents]
    assert kept == [documents[0], None, None, documents[3], documents[4]]


async def test_an_oversized_document_runs_but_is_not_stored(
    client: httpx.AsyncClient, clean: Runtime, monkeypatch: pytest.MonkeyPatch, ada: None
) -> None:
    monkeypatch.setattr(persisted_queries, "MAX_STORED_DOCUMENT_BYTES", len(USER) - 1)
    response = await client.post(
        "/graphql", json={"query": USER, "variables": VARIABLES, "extensions": persisted(USER)}
    )
    assert response.json() == ADA
    assert await store.stored_count(clean.redis) == 0
