"""hashtagFeed: tweets carrying a tag, newest first, over the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chirp.runtime import Runtime
from chirp.services import tweets
from tests.support import create_users, error_codes, gql, sign_up
from tests.test_round_trips import flat

FEED = """
query Tag($tag: String!, $first: Int, $after: String) {
  hashtagFeed(tag: $tag, first: $first, after: $after) {
    edges { cursor node { text hashtags } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
RICH_FEED = """
query Tag($tag: String!, $first: Int!) {
  hashtagFeed(tag: $tag, first: $first) {
    edges { node {
      text likeCount viewerHasLiked viewerHasRetweeted
      author { handle followerCount viewerFollows }
      mentions { handle }
    } }
  }
}
"""


async def page_through(
    client: httpx.AsyncClient, tag: str, *, first: int, between: Any = None
) -> list[str]:
    texts: list[str] = []
    after = None
    while True:
        body = await gql(client, FEED, {"tag": tag, "first": first, "after": after})
        feed = body["data"]["hashtagFeed"]
        texts += [edge["node"]["text"] for edge in feed["edges"]]
        if between is not None:
            await between()
        if not feed["pageInfo"]["hasNextPage"]:
            return texts
        after = feed["pageInfo"]["endCursor"]


async def test_pages_are_newest_first_and_stable_while_tweets_arrive(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    ann, bob = await create_users(clean, ["ann", "bob"])
    posted = [
        (await tweets.post_tweet(clean, author_id=(ann, bob)[i % 2].id, text=f"#Tag {i}")).text
        for i in range(12)
    ]
    await tweets.post_tweet(clean, author_id=ann.id, text="#other not this one")
    late = 0

    async def post_more() -> None:
        nonlocal late
        late += 1
        await tweets.post_tweet(clean, author_id=bob.id, text=f"#tag late {late}")

    assert await page_through(client, "tag", first=5, between=post_more) == posted[::-1]


async def test_tag_matches_any_case_with_or_without_hash(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    [ann] = await create_users(clean, ["ann"])
    await tweets.post_tweet(clean, author_id=ann.id, text="Café #Été")
    for spelling in ("été", "#ÉTÉ", "  #Été "):
        assert await page_through(client, spelling, first=5) == ["Café #Été"], spelling


async def test_deleted_tweets_leave_the_feed(client: httpx.AsyncClient, clean: Runtime) -> None:
    [ann] = await create_users(clean, ["ann"])
    keep = await tweets.post_tweet(clean, author_id=ann.id, text="#t keep")
    gone = await tweets.post_tweet(clean, author_id=ann.id, text="#t gone")
    await tweets.delete_tweet(clean, tweet_id=gone.id, actor_id=ann.id)
    assert await page_through(client, "t", first=5) == [keep.text]


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"tag": ""}, "tag"),
        ({"tag": "#"}, "tag"),
        ({"tag": "two words"}, "tag"),
        ({"tag": "#ok", "first": 101}, "first"),
        ({"tag": "#ok", "first": -1}, "first"),
        ({"tag": "#ok", "after": "nope"}, "after"),
    ],
)
async def test_bad_arguments(
    client: httpx.AsyncClient, variables: dict[str, Any], field: str
) -> None:
    body = await gql(client, FEED, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field


async def test_cost_is_flat(client: httpx.AsyncClient, clean: Runtime) -> None:
    token, _ = await sign_up(client, "viewer")
    users = await create_users(clean, [f"user{i}" for i in range(10)])
    for i in range(100):
        text = f"#flat {i} @user{(i + 1) % 10}"
        await tweets.post_tweet(clean, author_id=users[i % 10].id, text=text)
    await gql(client, "{ viewer { handle } }", token=token)  # warm the token cache

    async def run(size: int) -> dict[str, Any]:
        body = await gql(client, RICH_FEED, {"tag": "#FLAT", "first": size}, token=token)
        assert len(body["data"]["hashtagFeed"]["edges"]) == size
        return body

    # Postgres: the page (rows primed into the tweet loader), viewer flags,
    # mentions, authors. Graph: follow counts, viewerFollows.
    assert await flat(run, clean) == (4, 2)
