"""Tweets: posting rules, replies and quotes, likes, retweets, deletes, lists."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from chirp.runtime import Runtime
from tests.support import error_codes, gql, sign_up

POST = """
mutation Post($text: String!, $replyToId: ID, $quoteOfId: ID) {
  postTweet(text: $text, replyToId: $replyToId, quoteOfId: $quoteOfId) {
    id text hashtags mentions { handle } replyTo { id } quoteOf { id }
    author { handle tweetCount }
  }
}
"""
TWEET = """
query Tweet($id: ID!) {
  tweet(id: $id) {
    id text likeCount retweetCount replyCount viewerHasLiked viewerHasRetweeted
    replyTo { id } quoteOf { id } retweetOf { id }
    replies(first: 10) { edges { node { id } } }
  }
}
"""
USER_TWEETS = """
query Tweets($handle: String!, $first: Int, $after: String) {
  user(handle: $handle) {
    tweetCount
    tweets(first: $first, after: $after) {
      edges { cursor node { id text retweetOf { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
DELETE = "mutation Delete($id: ID!) { deleteTweet(id: $id) }"
LIKE = "mutation Like($id: ID!) { likeTweet(id: $id) { id likeCount viewerHasLiked } }"
UNLIKE = "mutation Unlike($id: ID!) { unlikeTweet(id: $id) { likeCount viewerHasLiked } }"
RETWEET = "mutation Rt($id: ID!) { retweet(id: $id) { id retweetCount viewerHasRetweeted } }"
UNDO_RETWEET = "mutation Undo($id: ID!) { undoRetweet(id: $id) { retweetCount } }"


async def post(http: httpx.AsyncClient, token: str, text: str, **refs: str) -> dict[str, Any]:
    body = await gql(http, POST, {"text": text, **refs}, token=token)
    assert "errors" not in body, body
    return body["data"]["postTweet"]


async def get_tweet(http: httpx.AsyncClient, tweet_id: str, token: str | None = None):
    return (await gql(http, TWEET, {"id": tweet_id}, token=token))["data"]["tweet"]


async def timeline(http: httpx.AsyncClient, handle: str, **args: Any) -> dict[str, Any]:
    body = await gql(http, USER_TWEETS, {"handle": handle, **args})
    assert "errors" not in body, body
    return body["data"]["user"]


async def tweet_rows(rt: Runtime) -> int:
    return await rt.db.fetchval("SELECT count(*) FROM tweets")


async def test_post_extracts_hashtags_and_existing_mentions(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "author")
    await sign_up(client, "Bob")
    await sign_up(client, "carol")
    tweet = await post(client, token, "Hi @carol and @BOB and @ghost_user #Python #python #Café")
    assert tweet["hashtags"] == ["python", "café"]
    assert [m["handle"] for m in tweet["mentions"]] == ["carol", "Bob"]
    assert tweet["author"] == {"handle": "author", "tweetCount": 1}


async def test_text_is_nfc_normalised_and_trimmed(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "author")
    tweet = await post(client, token, "  Cafe\u0301  ")
    assert tweet["text"] == "Caf\u00e9"


async def test_urls_count_as_23_characters(client: httpx.AsyncClient, clean: Runtime) -> None:
    token, _ = await sign_up(client, "author")
    url = "https://example.com/" + "x" * 200
    await post(client, token, "a" * 256 + " " + url)  # 256 + 1 + 23 = 280
    body = await gql(client, POST, {"text": "a" * 257 + " " + url}, token=token)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "text"
    assert await tweet_rows(clean) == 1


async def test_empty_and_over_long_tweets_are_rejected(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    token, _ = await sign_up(client, "author")
    for text in ["", "   \n ", "x" * 281]:
        body = await gql(client, POST, {"text": text}, token=token)
        assert error_codes(body) == ["BAD_USER_INPUT"], text
    await post(client, token, "x" * 280)
    assert await tweet_rows(clean) == 1


async def test_posting_needs_a_token(client: httpx.AsyncClient, clean: Runtime) -> None:
    assert error_codes(await gql(client, POST, {"text": "hello"})) == ["UNAUTHENTICATED"]
    assert await tweet_rows(clean) == 0


async def test_replies_and_quotes_link_their_targets(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "author")
    parent = await post(client, token, "parent")
    reply = await post(client, token, "a reply", replyToId=parent["id"])
    quote = await post(client, token, "a quote", quoteOfId=parent["id"])
    assert reply["replyTo"] == {"id": parent["id"]}
    assert quote["quoteOf"] == {"id": parent["id"]}
    seen = await get_tweet(client, parent["id"])
    assert seen["replyCount"] == 1
    assert seen["replies"]["edges"] == [{"node": {"id": reply["id"]}}]


async def test_unknown_reply_target_is_not_found(client: httpx.AsyncClient, clean: Runtime) -> None:
    token, _ = await sign_up(client, "author")
    gone = await post(client, token, "soon gone")
    await gql(client, DELETE, {"id": gone["id"]}, token=token)
    for refs in [{"replyToId": gone["id"]}, {"quoteOfId": gone["id"]}]:
        body = await gql(client, POST, {"text": "hello", **refs}, token=token)
        assert error_codes(body) == ["NOT_FOUND"], refs
    assert await tweet_rows(clean) == 0


async def test_ids_of_the_wrong_kind_are_bad_input(client: httpx.AsyncClient) -> None:
    token, user = await sign_up(client, "author")
    for refs in [{"replyToId": user["id"]}, {"quoteOfId": "nonsense"}]:
        body = await gql(client, POST, {"text": "hello", **refs}, token=token)
        assert error_codes(body) == ["BAD_USER_INPUT"], refs
    assert error_codes(await gql(client, TWEET, {"id": user["id"]})) == ["BAD_USER_INPUT"]


async def test_likes_are_idempotent(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "author")
    tweet = await post(client, token, "like me")
    for _ in range(2):
        liked = (await gql(client, LIKE, {"id": tweet["id"]}, token=token))["data"]["likeTweet"]
        assert liked["likeCount"] == 1 and liked["viewerHasLiked"] is True
    for _ in range(2):
        body = await gql(client, UNLIKE, {"id": tweet["id"]}, token=token)
        assert body["data"]["unlikeTweet"] == {"likeCount": 0, "viewerHasLiked": False}


async def test_50_concurrent_likers_count_exactly(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    token, _ = await sign_up(client, "author")
    tweet = await post(client, token, "popular")
    likers = [(await sign_up(client, f"liker{i}"))[0] for i in range(50)]
    bodies = await asyncio.gather(
        *(gql(client, LIKE, {"id": tweet["id"]}, token=t) for t in likers + likers[:10])
    )
    assert all("errors" not in body for body in bodies)
    assert (await get_tweet(client, tweet["id"]))["likeCount"] == 50
    assert await clean.db.fetchval("SELECT count(*) FROM likes") == 50


async def test_viewer_flags_are_per_viewer(client: httpx.AsyncClient) -> None:
    author, _ = await sign_up(client, "author")
    fan, _ = await sign_up(client, "fan")
    tweet = await post(client, author, "flags")
    await gql(client, LIKE, {"id": tweet["id"]}, token=fan)
    await gql(client, RETWEET, {"id": tweet["id"]}, token=fan)
    as_fan = await get_tweet(client, tweet["id"], fan)
    as_author = await get_tweet(client, tweet["id"], author)
    anonymous = await get_tweet(client, tweet["id"])
    assert (as_fan["viewerHasLiked"], as_fan["viewerHasRetweeted"]) == (True, True)
    assert (as_author["viewerHasLiked"], as_author["viewerHasRetweeted"]) == (False, False)
    assert (anonymous["viewerHasLiked"], anonymous["viewerHasRetweeted"]) == (False, False)


async def test_retweets_are_once_per_user_and_show_in_the_timeline(
    client: httpx.AsyncClient,
) -> None:
    author, _ = await sign_up(client, "author")
    fan, _ = await sign_up(client, "fan")
    tweet = await post(client, author, "share me")
    for _ in range(2):
        body = await gql(client, RETWEET, {"id": tweet["id"]}, token=fan)
        assert body["data"]["retweet"] == {
            "id": tweet["id"],
            "retweetCount": 1,
            "viewerHasRetweeted": True,
        }
    fan_timeline = await timeline(client, "fan")
    assert fan_timeline["tweetCount"] == 1
    [edge] = fan_timeline["tweets"]["edges"]
    assert edge["node"]["text"] == "" and edge["node"]["retweetOf"] == {"id": tweet["id"]}
    for _ in range(2):
        body = await gql(client, UNDO_RETWEET, {"id": tweet["id"]}, token=fan)
        assert body["data"]["undoRetweet"] == {"retweetCount": 0}
    assert (await timeline(client, "fan"))["tweetCount"] == 0


async def test_acting_on_a_retweet_acts_on_the_original(client: httpx.AsyncClient) -> None:
    author, _ = await sign_up(client, "author")
    fan, _ = await sign_up(client, "fan")
    tweet = await post(client, author, "original")
    await gql(client, RETWEET, {"id": tweet["id"]}, token=fan)
    retweet_id = (await timeline(client, "fan"))["tweets"]["edges"][0]["node"]["id"]
    liked = await gql(client, LIKE, {"id": retweet_id}, token=author)
    assert liked["data"]["likeTweet"]["id"] == tweet["id"]
    reply = await post(client, author, "reply", replyToId=retweet_id)
    assert reply["replyTo"] == {"id": tweet["id"]}
    undone = await gql(client, UNDO_RETWEET, {"id": retweet_id}, token=fan)
    assert undone["data"]["undoRetweet"]["retweetCount"] == 0


async def test_only_the_author_may_delete(client: httpx.AsyncClient, clean: Runtime) -> None:
    author, _ = await sign_up(client, "author")
    other, _ = await sign_up(client, "other")
    tweet = await post(client, author, "mine")
    assert error_codes(await gql(client, DELETE, {"id": tweet["id"]}, token=other)) == ["FORBIDDEN"]
    assert await tweet_rows(clean) == 1
    assert error_codes(await gql(client, DELETE, {"id": tweet["id"]})) == ["UNAUTHENTICATED"]


async def test_deleting_removes_the_tweet_its_likes_and_retweets(
    client: httpx.AsyncClient, clean: Runtime
) -> None:
    author, _ = await sign_up(client, "author")
    fan, _ = await sign_up(client, "fan")
    tweet = await post(client, author, "doomed #gone")
    reply = await post(client, fan, "a reply", replyToId=tweet["id"])
    await gql(client, LIKE, {"id": tweet["id"]}, token=fan)
    await gql(client, RETWEET, {"id": tweet["id"]}, token=fan)
    body = await gql(client, DELETE, {"id": tweet["id"]}, token=author)
    assert body["data"]["deleteTweet"] is True

    assert await get_tweet(client, tweet["id"]) is None
    node = await gql(client, "query N($id: ID!) { node(id: $id) { id } }", {"id": tweet["id"]})
    assert node["data"]["node"] is None
    assert (await timeline(client, "author"))["tweetCount"] == 0
    fan_timeline = await timeline(client, "fan")
    assert fan_timeline["tweetCount"] == 1  # the reply stays; the retweet went
    assert [e["node"]["id"] for e in fan_timeline["tweets"]["edges"]] == [reply["id"]]
    assert (await get_tweet(client, reply["id"]))["replyTo"] is None
    assert await clean.db.fetchval("SELECT count(*) FROM likes") == 0
    assert await clean.db.fetchval("SELECT count(*) FROM tweet_hashtags") == 0
    again = await gql(client, DELETE, {"id": tweet["id"]}, token=author)
    assert error_codes(again) == ["NOT_FOUND"]


async def test_deleting_a_reply_lowers_the_parent_reply_count(client: httpx.AsyncClient) -> None:
    author, _ = await sign_up(client, "author")
    parent = await post(client, author, "parent")
    reply = await post(client, author, "reply", replyToId=parent["id"])
    await gql(client, DELETE, {"id": reply["id"]}, token=author)
    seen = await get_tweet(client, parent["id"])
    assert seen["replyCount"] == 0 and seen["replies"]["edges"] == []


async def test_user_timeline_pages_newest_first_and_stably(client: httpx.AsyncClient) -> None:
    token, _ = await sign_up(client, "author")
    posted = [(await post(client, token, f"tweet {i}"))["id"] for i in range(5)]
    first = (await timeline(client, "author", first=2))["tweets"]
    assert [e["node"]["id"] for e in first["edges"]] == posted[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    await post(client, token, "arrives between pages")
    rest = (await timeline(client, "author", first=10, after=first["pageInfo"]["endCursor"]))[
        "tweets"
    ]
    assert [e["node"]["id"] for e in rest["edges"]] == posted[::-1][2:]
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][-1]["cursor"]}


async def test_page_size_and_cursor_are_checked(client: httpx.AsyncClient) -> None:
    await sign_up(client, "author")
    for args in [{"first": 101}, {"first": -1}, {"after": "bogus"}, {"after": "YzE6"}]:
        body = await gql(client, USER_TWEETS, {"handle": "author", **args})
        assert error_codes(body) == ["BAD_USER_INPUT"], args
    assert (await timeline(client, "author", first=100))["tweets"]["edges"] == []
    assert (await timeline(client, "author", first=None))["tweets"]["edges"] == []
