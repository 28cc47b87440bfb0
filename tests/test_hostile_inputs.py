"""A corpus of hostile inputs that once reached Postgres, argon2 or the view
and came back as INTERNAL_SERVER_ERROR or HTTP 500. Each must be a coded
client error that changes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chirp.runtime import Runtime
from tests.support import PASSWORD, error_codes, sign_up

NUL = "a\x00b"
SURROGATE = "a\ud800b"

SIGN_UP = (
    "mutation($h: String!, $p: String!, $d: String) "
    "{ signUp(handle: $h, password: $p, displayName: $d) { token } }"
)
LOG_IN = "mutation($h: String!, $p: String!) { logIn(handle: $h, password: $p) { token } }"
UPDATE = "mutation($d: String, $b: String) { updateProfile(displayName: $d, bio: $b) { handle } }"
POST = "mutation($t: String!) { postTweet(text: $t) { id } }"
SHORTEN = (
    "mutation($u: String!, $a: String, $e: DateTime) "
    "{ shortenUrl(url: $u, alias: $a, expiresAt: $e) { code } }"
)
SHORT_LINK = "query($c: String!) { shortLink(code: $c) { code } }"
USER = "query($h: String!) { user(handle: $h) { id } }"
HASHTAG = "query($t: String!) { hashtagFeed(tag: $t) { edges { cursor } } }"
TWEETS_PAGE = 'query($n: Int) { user(handle: "ada") { tweets(first: $n) { edges { cursor } } } }'

#: (name, document, variables, needs a token)
CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    *[
        (
            f"sign-up {field} {kind}",
            SIGN_UP,
            {"h": "newbie", "p": PASSWORD, "d": None, **{key: value}},
            False,
        )
        for field, key in (("handle", "h"), ("password", "p"), ("display name", "d"))
        for kind, value in (("NUL", NUL + "xyzxyzxyz"), ("surrogate", SURROGATE + "xyzxyzxyz"))
    ],
    ("log-in handle NUL", LOG_IN, {"h": NUL, "p": PASSWORD}, False),
    ("log-in password surrogate", LOG_IN, {"h": "ada", "p": SURROGATE * 4}, False),
    ("bio NUL", UPDATE, {"b": NUL}, True),
    ("display name surrogate", UPDATE, {"d": SURROGATE}, True),
    ("tweet NUL", POST, {"t": NUL}, True),
    ("tweet surrogate", POST, {"t": SURROGATE}, True),
    ("url NUL", SHORTEN, {"u": "https://example.com/" + NUL}, True),
    ("url surrogate", SHORTEN, {"u": "https://example.com/" + SURROGATE}, True),
    ("alias NUL", SHORTEN, {"u": "https://example.com/", "a": "abc" + NUL}, True),
    (
        "expiresAt at the end of time",
        SHORTEN,
        {"u": "https://example.com/", "e": "9999-12-31T23:59:59-12:00"},
        True,
    ),
    ("expiresAt garbage", SHORTEN, {"u": "https://example.com/", "e": "tomorrow"}, True),
    ("short code NUL", SHORT_LINK, {"c": NUL}, False),
    ("short code surrogate", SHORT_LINK, {"c": SURROGATE}, False),
    ("user handle NUL", USER, {"h": NUL}, False),
    ("hashtag surrogate", HASHTAG, {"t": SURROGATE}, False),
    ("a NUL in a document literal", 'mutation { postTweet(text: "a\\u0000b") { id } }', {}, True),
]


@pytest.fixture
async def token(client: httpx.AsyncClient) -> str:
    token, _ = await sign_up(client, "ada")
    return token


async def snapshot(rt: Runtime) -> tuple[int, ...]:
    """Row counts that a refused request must leave alone."""
    return tuple(
        [
            await rt.db.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("users", "tweets", "short_links")
        ]
    )


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
async def test_hostile_input_is_a_coded_client_error(
    client: httpx.AsyncClient, clean: Runtime, token: str, case: tuple[str, str, dict, bool]
) -> None:
    _, document, variables, authenticated = case
    before = await snapshot(clean)
    headers = {"authorization": f"Bearer {token}"} if authenticated else {}
    response = await client.post(
        "/graphql",
        # ASCII-escaped JSON: httpx's own encoder cannot send a lone surrogate
        content=json.dumps({"query": document, "variables": variables}),
        headers={"content-type": "application/json", **headers},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    codes = error_codes(body)
    assert codes, body
    assert "INTERNAL_SERVER_ERROR" not in codes, body
    assert await snapshot(clean) == before


async def test_a_surrogate_in_the_operation_name_is_a_coded_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        content=json.dumps({"query": "query Q { __typename }", "operationName": SURROGATE}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_a_5000_digit_integer_variable_is_a_coded_error(client: httpx.AsyncClient) -> None:
    body = f'{{"query": {json.dumps(TWEETS_PAGE)}, "variables": {{"n": {"9" * 5_000}}}}}'
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
