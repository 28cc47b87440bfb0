"""Follows through the API: idempotence, counts, lists, viewer flags, suggestions."""

from __future__ import annotations

from typing import Any

import httpx

from chirp.graph.follows import FollowGraph
from chirp.ids import from_global_id
from chirp.runtime import Runtime
from tests.support import error_codes, gql, sign_up

FOLLOW = """
mutation Follow($userId: ID!) {
  follow(userId: $userId) { handle followerCount viewerFollows followsViewer }
}
"""
UNFOLLOW = "mutation Unfollow($userId: ID!) { unfollow(userId: $userId) { followerCount } }"
PROFILE = """
query Profile($handle: String!) {
  user(handle: $handle) { followerCount followingCount viewerFollows followsViewer }
}
"""
PEOPLE = """
query People($handle: String!, $first: Int, $after: String) {
  user(handle: $handle) {
    followers(first: $first, after: $after) {
      edges { cursor node { handle } } pageInfo { hasNextPage endCursor }
    }
    following(first: $first) { edges { node { handle } } }
  }
}
"""
WHO_TO_FOLLOW = "query Who($first: Int) { whoToFollow(first: $first) { handle } }"


async def users(http: httpx.AsyncClient, *handles: str) -> dict[str, tuple[str, str]]:
    """handle -> (token, id) for new accounts."""
    made = {}
    for handle in handles:
        token, user = await sign_up(http, handle)
        made[handle] = (token, user["id"])
    return made


async def follow(http: httpx.AsyncClient, token: str, user_id: str) -> dict[str, Any]:
    body = await gql(http, FOLLOW, {"userId": user_id}, token=token)
    assert "errors" not in body, body
    return body["data"]["follow"]


async def profile(http: httpx.AsyncClient, handle: str, token: str | None = None):
    return (await gql(http, PROFILE, {"handle": handle}, token=token))["data"]["user"]


async def test_follow_is_idempotent_and_counted(client: httpx.AsyncClient) -> None:
    u = await users(client, "ann", "ben")
    for _ in range(2):
        followed = await follow(client, u["ann"][0], u["ben"][1])
        assert followed == {
            "handle": "ben",
            "followerCount": 1,
            "viewerFollows": True,
            "followsViewer": False,
        }
    assert await profile(client, "ann", u["ann"][0]) == {
        "followerCount": 0,
        "followingCount": 1,
        "viewerFollows": False,
        "followsViewer": False,
    }
    as_ben = await profile(client, "ann", u["ben"][0])
    assert as_ben["followsViewer"] is True and as_ben["viewerFollows"] is False


async def test_unfollow_is_idempotent(client: httpx.AsyncClient) -> None:
    u = await users(client, "ann", "ben")
    await follow(client, u["ann"][0], u["ben"][1])
    for _ in range(2):
        body = await gql(client, UNFOLLOW, {"userId": u["ben"][1]}, token=u["ann"][0])
        assert body["data"]["unfollow"] == {"followerCount": 0}
    assert (await profile(client, "ann"))["followingCount"] == 0


async def test_a_retried_follow_converges(client: httpx.AsyncClient, clean: Runtime) -> None:
    u = await users(client, "ann", "ben")
    ann, ben = (from_global_id(u[h][1])[1] for h in ("ann", "ben"))
    # The edge reached the graph, then the request failed; the client retries.
    await FollowGraph(clean.graph).follow(follower_id=ann, followee_id=ben, since_ms=1)
    assert (await follow(client, u["ann"][0], u["ben"][1]))["followerCount"] == 1


async def test_bad_follows_change_nothing(client: httpx.AsyncClient) -> None:
    u = await users(client, "ann", "ben")
    token = u["ann"][0]
    assert error_codes(await gql(client, FOLLOW, {"userId": u["ann"][1]}, token=token)) == [
        "BAD_USER_INPUT"
    ]
    missing = "U_" + "1" * 10
    assert error_codes(await gql(client, FOLLOW, {"userId": missing}, token=token)) == ["NOT_FOUND"]
    not_a_user = "T_" + "1" * 10
    assert error_codes(await gql(client, FOLLOW, {"userId": not_a_user}, token=token)) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await gql(client, FOLLOW, {"userId": u["ben"][1]})) == ["UNAUTHENTICATED"]
    assert (await profile(client, "ann"))["followingCount"] == 0


async def test_viewer_flags_are_false_without_a_token(client: httpx.AsyncClient) -> None:
    u = await users(client, "ann", "ben")
    await follow(client, u["ann"][0], u["ben"][1])
    await follow(client, u["ben"][0], u["ann"][1])
    anonymous = await profile(client, "ben")
    assert (anonymous["viewerFollows"], anonymous["followsViewer"]) == (False, False)


async def test_followers_page_newest_first_and_stably(client: httpx.AsyncClient) -> None:
    u = await users(client, "star", "fan1", "fan2", "fan3", "late")
    for handle in ("fan1", "fan2", "fan3"):
        await follow(client, u[handle][0], u["star"][1])
    body = await gql(client, PEOPLE, {"handle": "star", "first": 2})
    page = body["data"]["user"]["followers"]
    assert [e["node"]["handle"] for e in page["edges"]] == ["fan3", "fan2"]
    assert page["pageInfo"]["hasNextPage"] is True
    await follow(client, u["late"][0], u["star"][1])  # arrives between pages
    after = page["pageInfo"]["endCursor"]
    body = await gql(client, PEOPLE, {"handle": "star", "first": 2, "after": after})
    rest = body["data"]["user"]["followers"]
    assert [e["node"]["handle"] for e in rest["edges"]] == ["fan1"]
    assert rest["pageInfo"]["hasNextPage"] is False
    following = await gql(client, PEOPLE, {"handle": "fan1"})
    assert following["data"]["user"]["following"]["edges"] == [{"node": {"handle": "star"}}]


async def test_follow_lists_check_their_arguments(client: httpx.AsyncClient) -> None:
    await users(client, "star")
    for args in [{"first": 101}, {"after": "nonsense"}]:
        body = await gql(client, PEOPLE, {"handle": "star", **args})
        assert error_codes(body)[0] == "BAD_USER_INPUT", args


async def test_who_to_follow_ranks_friends_of_friends(client: httpx.AsyncClient) -> None:
    u = await users(client, "viewer", "fr1", "fr2", "popular", "niche", "known")
    for handle in ("fr1", "fr2", "known"):
        await follow(client, u["viewer"][0], u[handle][1])
    for follower in ("fr1", "fr2"):
        await follow(client, u[follower][0], u["popular"][1])
    await follow(client, u["fr1"][0], u["niche"][1])
    await follow(client, u["fr1"][0], u["known"][1])  # already followed: excluded
    await follow(client, u["fr2"][0], u["viewer"][1])  # yourself: excluded
    body = await gql(client, WHO_TO_FOLLOW, {"first": 2}, token=u["viewer"][0])
    assert [user["handle"] for user in body["data"]["whoToFollow"]] == ["popular", "niche"]


async def test_who_to_follow_falls_back_to_the_most_followed(client: httpx.AsyncClient) -> None:
    u = await users(client, "newbie", "celeb", "known", "fan_a", "fan_b")
    for fan in ("fan_a", "fan_b", "known"):
        await follow(client, u[fan][0], u["celeb"][1])
    await follow(client, u["fan_a"][0], u["known"][1])
    body = await gql(client, WHO_TO_FOLLOW, {}, token=u["newbie"][0])
    assert [user["handle"] for user in body["data"]["whoToFollow"]][:2] == ["celeb", "known"]


async def test_who_to_follow_needs_a_token(client: httpx.AsyncClient) -> None:
    assert error_codes(await gql(client, WHO_TO_FOLLOW, {})) == ["UNAUTHENTICATED"]
