"""DataLoaders keep every list field's cost flat: the same number of Postgres
and graph round trips for a page of 5 as for a page of 100."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from chirp.graph.follows import FollowGraph
from chirp.ids import NodeKind, to_global_id
from chirp.runtime import Runtime
from chirp.services import notifications, tweets
from tests.support import create_users, gql, sign_up

#: The issue's query: a user timeline with authors, counts, flags, mentions, quotes.
USER_TWEETS = """
query Timeline($handle: String!, $first: Int!) {
  user(handle: $handle) {
    tweets(first: $first) {
      edges { node {
        text likeCount viewerHasLiked viewerHasRetweeted
        author { handle followerCount viewerFollows }
        mentions { handle followsViewer }
        quoteOf { text author { handle } }
      } }
    }
  }
}
"""
REPLIES = """
query Replies($id: ID!, $first: Int!) {
  tweet(id: $id) {
    replies(first: $first) {
      edges { node { text likeCount viewerHasLiked author { handle followerCount } } }
    }
  }
}
"""
FOLLOWERS = """
query Followers($handle: String!, $first: Int!) {
  user(handle: $handle) {
    followers(first: $first) {
      edges { node {
        handle followerCount followingCount viewerFollows followsViewer
        tweets(first: 3) { edges { node { text likeCount } } }
      } }
    }
    following(first: $first) { edges { node { handle followerCount } } }
  }
}
"""
WHO_TO_FOLLOW = """
query Who($first: Int!) { whoToFollow(first: $first) { handle followerCount viewerFollows } }
"""

SIZES = (5, 100)


async def cost(
    rt: Runtime, run: Callable[[], Awaitable[dict[str, Any]]]
) -> tuple[int, int, dict[str, Any]]:
    """(Postgres round trips, graph round trips, response body) of one request."""
    db_before, graph_before = rt.db.round_trips, rt.graph.round_trips
    body = await run()
    assert "errors" not in body, body
    return rt.db.round_trips - db_before, rt.graph.round_trips - graph_before, body


@pytest.fixture
async def world(client: httpx.AsyncClient, clean: Runtime) -> dict[str, Any]:
    """A viewer, a star with 100 followers, 100 tweets that mention and quote,
    and 100 replies to one of them."""
    token, _ = await sign_up(client, "viewer")
    star, other, *fans = await create_users(
        clean, ["star", "other"] + [f"fan{i}" for i in range(100)]
    )
    quoted = [
        await tweets.post_tweet(clean, author_id=other.id, text=f"quotable {i}") for i in range(3)
    ]
    for i in range(100):
        await tweets.post_tweet(
            clean,
            author_id=star.id,
            text=f"tweet {i} @fan{i} @fan{(i + 1) % 100} #topic{i % 7}",
            quote_of_id=quoted[i % 3].id,
        )
    parent = quoted[0]
    for fan in fans:
        await tweets.post_tweet(clean, author_id=fan.id, text="a reply", reply_to_id=parent.id)
    await FollowGraph(clean.graph).bulk_follow(
        edges=[(fan.id, star.id, i + 1) for i, fan in enumerate(fans)]
        + [(star.id, fan.id, i + 1) for i, fan in enumerate(fans)]
        + [(fan.id, other.id, i + 1) for i, fan in enumerate(fans)]
    )
    await gql(client, "{ viewer { handle } }", token=token)  # warm the token cache
    return {"token": token, "parent": parent}


async def flat(run: Callable[[int], Awaitable[dict[str, Any]]], rt: Runtime) -> tuple[int, int]:
    """Run the query at each page size; assert the costs match; return them."""
    costs = []
    for size in SIZES:
        db, graph, _ = await cost(rt, lambda size=size: run(size))
        costs.append((db, graph))
    assert costs[0] == costs[1], f"round trips grow with page size: {costs}"
    return costs[0]


async def test_user_tweets_cost_is_flat(
    client: httpx.AsyncClient, clean: Runtime, world: dict[str, Any]
) -> None:
    async def run(size: int) -> dict[str, Any]:
        body = await gql(
            client, USER_TWEETS, {"handle": "star", "first": size}, token=world["token"]
        )
        assert len(body["data"]["user"]["tweets"]["edges"]) == size
        return body

    # Postgres: user, tweets page, viewer flags, mentions, quoted tweets, their
    # authors. Graph: follow counts, viewerFollows, followsViewer.
    assert await flat(run, clean) == (6, 3)


async def test_replies_cost_is_flat(
    client: httpx.AsyncClient, clean: Runtime, world: dict[str, Any]
) -> None:
    tweet_id = to_global_id(NodeKind.TWEET, world["parent"].id)

    async def run(size: int) -> dict[str, Any]:
        return await gql(client, REPLIES, {"id": tweet_id, "first": size}, token=world["token"])

    # Postgres: tweet, replies page, viewer flags, authors. Graph: follow counts.
    assert await flat(run, clean) == (4, 1)


async def test_follow_lists_cost_is_flat(
    client: httpx.AsyncClient, clean: Runtime, world: dict[str, Any]
) -> None:
    async def run(size: int) -> dict[str, Any]:
        body = await gql(client, FOLLOWERS, {"handle": "star", "first": size}, token=world["token"])
        assert len(body["data"]["user"]["followers"]["edges"]) == size
        return body

    # Postgres: user, followers' and followees' rows, their tweet pages.
    # Graph: followers page, following page, counts, viewerFollows, followsViewer.
    assert await flat(run, clean) == (3, 5)


async def test_who_to_follow_cost_is_flat(
    client: httpx.AsyncClient, clean: Runtime, world: dict[str, Any]
) -> None:
    async def run(size: int) -> dict[str, Any]:
        return await gql(client, WHO_TO_FOLLOW, {"first": size}, token=world["token"])

    await run(1)  # fill the shared most-followed cache, which is not per page
    # Postgres: the suggested users' rows. Graph: suggestions, which of the
    # most-followed the viewer follows, counts, viewerFollows.
    assert await flat(run, clean) == (1, 4)


LINKED_TWEETS = """
query Linked($handle: String!, $first: Int!) {
  user(handle: $handle) {
    tweets(first: $first) {
      edges { node { links { code shortUrl visitCount owner { handle } } } }
    }
  }
}
"""


async def test_tweet_links_cost_is_flat(client: httpx.AsyncClient, clean: Runtime) -> None:
    """Tweet.links with visit counts and owners: one query each for the whole page."""
    [author] = await create_users(clean, ["linker"])
    for i in range(100):
        await tweets.post_tweet(
            clean,
            author_id=author.id,
            text=f"tweet {i} https://example.com/{i} and https://example.org/{i}",
        )

    async def run(size: int) -> dict[str, Any]:
        body = await gql(client, LINKED_TWEETS, {"handle": "linker", "first": size})
        edges = body["data"]["user"]["tweets"]["edges"]
        assert len(edges) == size and all(len(e["node"]["links"]) == 2 for e in edges)
        return body

    # Postgres: user, tweets page, links, visit counts (plus one Redis MULTI for
    # the pending counts); the owner is the user already loaded. Graph: none.
    assert await flat(run, clean) == (4, 0)


NOTIFICATIONS = """
query Notifications($first: Int!) {
  notifications(first: $first) {
    edges { node {
      kind read
      actor { handle followerCount }
      tweet { text likeCount author { handle } }
    } }
  }
}
"""


async def test_notifications_cost_is_flat(client: httpx.AsyncClient, clean: Runtime) -> None:
    token, _ = await sign_up(client, "viewer")
    for event_id, fan in enumerate(await create_users(clean, [f"fan{i}" for i in range(100)])):
        mention = await tweets.post_tweet(clean, author_id=fan.id, text=f"hi @viewer {event_id}")
        await notifications.on_tweet_added(clean, event_id=event_id, tweet_id=mention.id)

    async def run(size: int) -> dict[str, Any]:
        body = await gql(client, NOTIFICATIONS, {"first": size}, token=token)
        edges = body["data"]["notifications"]["edges"]
        assert len(edges) == size and all(e["node"]["kind"] == "MENTION" for e in edges)
        return body

    # Postgres: the page, the actors, the tweets (whose authors are the actors,
    # already loaded). Graph: the actors' follow counts.
    assert await flat(run, clean) == (3, 1)
