"""Helpers for tests that talk GraphQL to the app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from chirp.persistence import tokens, users
from chirp.persistence.users import UserRecord
from chirp.runtime import Runtime
from chirp.services import accounts

SIGN_UP = """
mutation SignUp($handle: String!, $password: String!, $displayName: String) {
  signUp(handle: $handle, password: $password, displayName: $displayName) {
    token
    user { id handle displayName }
  }
}
"""
PASSWORD = "correct horse battery"


async def gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """POST a GraphQL document; return the decoded body (data and errors)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def sign_up(
    http: httpx.AsyncClient, handle: str, password: str = PASSWORD
) -> tuple[str, dict[str, Any]]:
    """Create an account through the API; return its token and user."""
    body = await gql(http, SIGN_UP, {"handle": handle, "password": password})
    assert "errors" not in body, body
    payload = body["data"]["signUp"]
    return payload["token"], payload["user"]


async def create_users(rt: Runtime, handles: list[str]) -> list[UserRecord]:
    """Accounts for test setup, without paying for an argon2 hash each (they
    cannot log in with PASSWORD; use ``sign_up`` for accounts that must)."""
    return [
        await users.insert_user(
            rt.db,
            user_id=rt.ids.next_id(),
            handle=handle,
            display_name=handle,
            password_hash="$argon2id$not-a-real-hash",
        )
        for handle in handles
    ]


async def tokens_for(rt: Runtime, *user_ids: int) -> list[str]:
    """A live token for each user (of ``create_users``), as logging in would store it."""
    minted = []
    for user_id in user_ids:
        token = f"test-token-{user_id}"
        await tokens.insert_token(rt.db, digest=accounts.token_digest(token), user_id=user_id)
        minted.append(token)
    return minted


#: Long enough for any background step here; a test failing by it is broken.
EVENTUALLY_SECONDS = 10.0


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = EVENTUALLY_SECONDS):
    """Poll ``check`` until it holds, or fail after ``seconds`` (no blind sleeps)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {seconds} s")
        await asyncio.sleep(0.01)
