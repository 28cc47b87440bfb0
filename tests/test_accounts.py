"""Accounts: sign-up, log-in, tokens, profiles, and user lookups."""

from __future__ import annotations

import asyncio

import httpx

from chirp.runtime import Runtime
from tests.support import PASSWORD, SIGN_UP, error_codes, gql, sign_up

VIEWER = "{ viewer { id handle displayName bio createdAt } }"
LOG_IN = """
mutation LogIn($handle: String!, $password: String!) {
  logIn(handle: $handle, password: $password) { token user { handle } }
}
"""
LOG_OUT = "mutation { logOut }"
UPDATE_PROFILE = """
mutation Update($displayName: String, $bio: String) {
  updateProfile(displayName: $displayName, bio: $bio) { handle displayName bio }
}
"""
USER = "query User($handle: String!) { user(handle: $handle) { id handle } }"
NODE = "query Node($id: ID!) { node(id: $id) { id ... on User { handle } } }"


async def user_count(rt: Runtime) -> int:
    return await rt.db.fetchval("SELECT count(*) FROM users")


async def test_sign_up_returns_a_working_token(client: httpx.AsyncClient) -> None:
    token, user = await sign_up(client, "alice")
    body = await gql(client, VIEWER, token=token)
    assert body["data"]["viewer"]["id"] == user["id"]
    assert body["data"]["viewer"]["handle"] == "alice"
    assert body["data"]["viewer"]["displayName"] == "alice"
    assert body["data"]["viewer"]["bio"] == ""


async def test_viewer_is_null_without_a_token(client: httpx.AsyncClient) -> None:
    body = await gql(client, VIEWER)
    assert body == {"data": {"viewer": None}}


async def test_display_name_is_kept(client: httpx.AsyncClient) -> None:
    variables = {"handle": "bob", "password": PASSWORD, "displayName": "  Bob Ross "}
    body = await gql(client, SIGN_UP, variables)
    assert body["data"]["signUp"]["user"]["displayName"] == "Bob Ross"


async def test_handle_taken_in_another_case_is_a_conflict(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    await sign_up(client, "Alice")
    body = await gql(client, SIGN_UP, {"handle": "aLICE", "password": PASSWORD})
    assert error_codes(body) == ["CONFLICT"]
    assert body["errors"][0]["extensions"]["field"] == "handle"
    assert await user_count(clean) == 1


async def test_concurrent_sign_ups_of_one_handle_create_one_account(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    bodies = await asyncio.gather(
        *(gql(client, SIGN_UP, {"handle": h, "password": PASSWORD}) for h in ["race", "RACE"])
    )
    assert sorted(code for body in bodies for code in error_codes(body)) == ["CONFLICT"]
    assert await user_count(clean) == 1


async def test_bad_handles_are_rejected(client: httpx.AsyncClient, clean: Runtime) -> None:
    for handle in ["ab", "a" * 16, "bad-handle", "héllo", "with space", ""]:
        body = await gql(client, SIGN_UP, {"handle": handle, "password": PASSWORD})
        assert error_codes(body) == ["BAD_USER_INPUT"], handle
    assert await user_count(clean) == 0


async def test_handle_limits_are_inclusive(client: httpx.AsyncClient) -> None:
    for handle in ["abc", "a" * 15, "Under_Score_9"]:
        await sign_up(client, handle)


async def test_short_password_is_rejected(client: httpx.AsyncClient, clean: Runtime) -> None:
    body = await gql(client, SIGN_UP, {"handle": "carol", "password": "1234567"})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "password"
    assert await user_count(clean) == 0


async def test_long_display_name_is_rejected_at_sign_up(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    variables = {"handle": "dave", "password": PASSWORD, "displayName": "x" * 51}
    assert error_codes(await gql(client, SIGN_UP, variables)) == ["BAD_USER_INPUT"]
    assert await user_count(clean) == 0


async def test_password_is_stored_as_an_argon2_hash(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    await sign_up(client, "erin")
    stored = await clean.db.fetchval("SELECT password_hash FROM users WHERE handle = 'erin'")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_log_in_issues_a_new_token(client: httpx.AsyncClient) -> None:
    first, _ = await sign_up(client, "frank")
    body = await gql(client, LOG_IN, {"handle": "FRANK", "password": PASSWORD})
    second = body["data"]["logIn"]["token"]
    assert second != first
    assert (await gql(client, VIEWER, token=second))["data"]["viewer"]["handle"] == "frank"


async def test_log_in_with_a_wrong_password_is_unauthenticated(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client, "grace")
    body = await gql(client, LOG_IN, {"handle": "grace", "password": "wrong password"})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_log_in_to_an_unknown_handle_is_unauthenticated(
    client: httpx.AsyncClient,
) -> None:
    body = await gql(client, LOG_IN, {"handle": "nobody", "password": PASSWORD})
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["message"] == "Invalid handle or password."


async def test_log_out_revokes_only_that_token(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "heidi")
    other = (await gql(client, LOG_IN, {"handle": "heidi", "password": PASSWORD}))["data"]
    assert (await gql(client, LOG_OUT, token=token))["data"]["logOut"] is True
    assert error_codes(await gql(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]
    viewer = await gql(client, VIEWER, token=other["logIn"]["token"])
    assert viewer["data"]["viewer"]["handle"] == "heidi"


async def test_revoked_token_stays_revoked_after_redis_flush(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    token, _ = await sign_up(client, "ivan")
    await gql(client, LOG_OUT, token=token)
    await clean.redis.flushall()
    assert error_codes(await gql(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]


async def test_log_out_needs_a_token(client: httpx.AsyncClient) -> None:
    assert error_codes(await gql(client, LOG_OUT)) == ["UNAUTHENTICATED"]


async def test_unknown_token_is_unauthenticated(client: httpx.AsyncClient) -> None:
    for token in ["chirp_not-a-real-token", "x"]:
        assert error_codes(await gql(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]


async def test_non_bearer_authorization_is_unauthenticated(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Basic YTpi"}
    )
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_tokens_survive_a_redis_flush(client: httpx.AsyncClient, clean: Runtime) -> None:
    token, _ = await sign_up(client, "judy")
    await clean.redis.flushall()
    assert (await gql(client, VIEWER, token=token))["data"]["viewer"]["handle"] == "judy"
    # ...and the cache was refilled from Postgres.
    assert await clean.redis.dbsize() == 1


async def test_update_profile_changes_only_given_fields(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "karl")
    body = await gql(client, UPDATE_PROFILE, {"bio": "Line one\nline two"}, token=token)
    assert body["data"]["updateProfile"] == {
        "handle": "karl",
        "displayName": "karl",
        "bio": "Line one\nline two",
    }
    body = await gql(client, UPDATE_PROFILE, {"displayName": "Karl K."}, token=token)
    assert body["data"]["updateProfile"]["bio"] == "Line one\nline two"
    assert (await gql(client, VIEWER, token=token))["data"]["viewer"]["displayName"] == "Karl K."


async def test_update_profile_limits(client: httpx.AsyncClient, clean: Runtime) -> None:
    token, _ = await sign_up(client, "liam")
    for variables in [
        {"bio": "b" * 161},
        {"displayName": "d" * 51},
        {"displayName": "   "},
        {"displayName": "tab\there"},
    ]:
        body = await gql(client, UPDATE_PROFILE, variables, token=token)
        assert error_codes(body) == ["BAD_USER_INPUT"], variables
    row = await clean.db.fetchrow("SELECT display_name, bio FROM users WHERE handle = 'liam'")
    assert tuple(row) == ("liam", "")
    longest = {"bio": "b" * 160, "displayName": "d" * 50}
    body = await gql(client, UPDATE_PROFILE, longest, token=token)
    assert "errors" not in body


async def test_update_profile_needs_a_token(client: httpx.AsyncClient) -> None:
    body = await gql(client, UPDATE_PROFILE, {"bio": "hi"})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_user_by_handle_ignores_case_and_at_sign(client: httpx.AsyncClient) -> None:
    _, user = await sign_up(client, "MiXeD")
    for handle in ["mixed", "MIXED", "@MiXeD"]:
        body = await gql(client, USER, {"handle": handle})
        assert body["data"]["user"] == {"id": user["id"], "handle": "MiXeD"}
    assert (await gql(client, USER, {"handle": "unknown"}))["data"]["user"] is None


async def test_node_fetches_a_user_by_global_id(client: httpx.AsyncClient) -> None:
    _, user = await sign_up(client, "nina")
    body = await gql(client, NODE, {"id": user["id"]})
    assert body["data"]["node"] == {"id": user["id"], "handle": "nina"}


async def test_node_with_an_unknown_id_is_null(client: httpx.AsyncClient) -> None:
    _, user = await sign_up(client, "oscar")
    unknown = user["id"][:-1] + ("1" if user["id"][-1] != "1" else "2")
    assert (await gql(client, NODE, {"id": unknown}))["data"]["node"] is None


async def test_node_with_a_malformed_id_is_bad_input(client: httpx.AsyncClient) -> None:
    for bad in ["", "42", "X_abc", "U_", "U_!!", "U_" + "z" * 12]:
        assert error_codes(await gql(client, NODE, {"id": bad})) == ["BAD_USER_INPUT"], bad
