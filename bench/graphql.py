"""GraphQL helpers shared by scenarios: measured requests, response checks, setup calls."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bench.scenario import Request, ResponseCheck

GRAPHQL_PATH = "/graphql"

#: Handle and password of the user most scenarios act as. The handle fits the
#: contract's 3-15 ``[A-Za-z0-9_]`` rule and the password any sane minimum.
BENCH_HANDLE = "bench_user"
BENCH_PASSWORD = "benchpass123"

#: Characters of a failing response kept in its error reason: enough to see
#: the GraphQL error code and message, short enough for a terminal line.
REASON_CHARS = 300


class GraphQLCallError(RuntimeError):
    """A setup call failed; carries the ``extensions.code`` values, if any."""

    def __init__(self, message: str, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.codes = codes


def graphql_request(
    query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> Request:
    """A POST /graphql request, encoded like a typical JSON client would send it."""
    payload: dict[str, Any] = {"query": query}
    if variables:
        payload["variables"] = variables
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return Request("POST", GRAPHQL_PATH, headers, json.dumps(payload).encode())


def graphql_check(*required_fields: str) -> ResponseCheck:
    """A check that fails on non-2xx, on any GraphQL ``errors``, and on a null
    top-level field among ``required_fields`` (e.g. ``viewer`` being null means
    the token was not accepted, so the run would measure the wrong thing).

    Every response is parsed: ``json.loads`` of a small body costs a few
    microseconds, far below the server's cost per request.
    """

    def check(status: int, body: bytes) -> str | None:
        if not 200 <= status < 300:
            return f"HTTP {status}: {body[:REASON_CHARS]!r}"
        try:
            document = json.loads(body)
        except ValueError:
            return f"not JSON: {body[:REASON_CHARS]!r}"
        if not isinstance(document, dict):
            return f"not a GraphQL response: {body[:REASON_CHARS]!r}"
        if document.get("errors"):
            return f"GraphQL errors: {json.dumps(document['errors'])[:REASON_CHARS]}"
        data = document.get("data") or {}
        for name in required_fields:
            if data.get(name) is None:
                return f"data.{name} is null"
        return None

    return check


async def execute(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """Run one setup operation and return its ``data``; raise on any error."""
    request = graphql_request(query, variables, token)
    response = await client.post(request.path, content=request.body, headers=dict(request.headers))
    try:
        document = response.json()
    except ValueError as exc:
        raise GraphQLCallError(
            f"HTTP {response.status_code}, not JSON: {response.text[:REASON_CHARS]}"
        ) from exc
    if not isinstance(document, dict):
        raise GraphQLCallError(f"not a GraphQL response: {response.text[:REASON_CHARS]}")
    errors = document.get("errors")
    if errors:
        codes = tuple(str((e.get("extensions") or {}).get("code", "")) for e in errors)
        raise GraphQLCallError(f"GraphQL errors: {json.dumps(errors)[:REASON_CHARS]}", codes)
    data = document.get("data")
    if response.status_code >= 300 or not isinstance(data, dict):
        raise GraphQLCallError(f"HTTP {response.status_code}: {response.text[:REASON_CHARS]}")
    return data


SIGN_UP = """
mutation SignUp($handle: String!, $password: String!) {
  signUp(handle: $handle, password: $password) { token user { id handle } }
}
"""

LOG_IN = """
mutation LogIn($handle: String!, $password: String!) {
  logIn(handle: $handle, password: $password) { token user { id handle } }
}
"""


async def sign_up_or_log_in(
    client: httpx.AsyncClient, handle: str = BENCH_HANDLE, password: str = BENCH_PASSWORD
) -> dict[str, Any]:
    """Return ``{token, user}`` for ``handle``, signing it up on a fresh server.

    With ``--data-dir`` or external databases the user may exist from an
    earlier run; then ``signUp`` answers CONFLICT and logging in is right.
    """
    variables = {"handle": handle, "password": password}
    try:
        payload = (await execute(client, SIGN_UP, variables))["signUp"]
    except GraphQLCallError as exc:
        if "CONFLICT" not in exc.codes:
            raise
        payload = (await execute(client, LOG_IN, variables))["logIn"]
    if not isinstance(payload, dict) or not isinstance(payload.get("token"), str):
        raise GraphQLCallError(f"no token in the auth payload: {payload!r}"[:REASON_CHARS])
    return payload
