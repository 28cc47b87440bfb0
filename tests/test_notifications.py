"""Notifications: made by the worker from real events, read through the API."""

from __future__ import annotations

from typing import Any

import httpx

from chirp.ids import from_global_id
from chirp.persistence import outbox, streams
from chirp.runtime import Runtime
from chirp.workers import notifications as notification_worker
from chirp.workers.consumer import StreamConsumer
from tests.support import error_codes, gql, sign_up
from tests.test_feed_pipeline import drain

POST = "mutation($text: String!, $replyToId: ID, $quoteOfId: ID) { postTweet(text: $text, replyToId: $replyToId, quoteOfId: $quoteOfId) { id } }"  # noqa: E501
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { id } }"
UNLIKE = "mutation($id: ID!) { unlikeTweet(id: $id) { id } }"
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id } }"
UNDO_RETWEET = "mutation($id: ID!) { undoRetweet(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { id } }"
UNFOLLOW = "mutation($id: ID!) { unfollow(userId: $id) { id } }"
MARK_READ = "mutation { markNotificationsRead }"
NOTIFICATIONS = """
query($first: Int, $after: String) {
  notifications(first: $first, after: $after) {
    edges { cursor node { id kind read actor { handle } tweet { id text } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
UNREAD = "query($handle: String!) { viewer { unreadNotificationCount } user(handle: $handle) { unreadNotificationCount } }"  # noqa: E501
NODE = "query($id: ID!) { node(id: $id) { id ... on Notification { kind } } }"


class World:
    """Two signed-up users, alice and bob, and a worker to drain after each act."""

    def __init__(self, http: httpx.AsyncClient, rt: Runtime) -> None:
        self.http = http
        self.consumer = StreamConsumer(
            rt, group=notification_worker.GROUP, handler=notification_worker.handle
        )
        self.rt = rt
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    async def add(self, *handles: str) -> None:
        for handle in handles:
            self.tokens[handle], user = await sign_up(self.http, handle)
            self.ids[handle] = user["id"]

    async def act(self, who: str, document: str, **variables: Any) -> dict[str, Any]:
        body = await gql(self.http, document, variables, token=self.tokens[who])
        assert "errors" not in body, body
        await drain(self.rt, self.consumer)
        return body["data"]

    async def tweet(self, who: str, text: str, **refs: str) -> str:
        return (await self.act(who, POST, text=text, **refs))["postTweet"]["id"]

    async def notifications(self, who: str, first: int = 20) -> list[dict[str, Any]]:
        body = await gql(self.http, NOTIFICATIONS, {"first": first}, token=self.tokens[who])
        assert "errors" not in body, body
        return [edge["node"] for edge in body["data"]["notifications"]["edges"]]

    async def kinds(self, who: str) -> list[tuple[str, str]]:
        return [(n["kind"], n["actor"]["handle"]) for n in await self.notifications(who)]


async def world(client: httpx.AsyncClient, clean: Runtime) -> World:
    w = World(client, clean)
    await w.add("alice", "bob", "carol")
    return w


async def test_each_kind_of_act_notifies_the_one_it_concerns(client, clean) -> None:
    w = await world(client, clean)
    original = await w.tweet("alice", "hello")
    await w.act("bob", FOLLOW, id=w.ids["alice"])
    await w.act("bob", LIKE, id=original)
    reply = await w.tweet("bob", "hi back", replyToId=original)
    await w.tweet("bob", "see @alice")
    quote = await w.tweet("bob", "look", quoteOfId=original)
    await w.act("bob", RETWEET, id=original)
    found = await w.notifications("alice")
    assert [(n["kind"], n["actor"]["handle"]) for n in found] == [
        ("RETWEET", "bob"),
        ("QUOTE", "bob"),
        ("MENTION", "bob"),
        ("REPLY", "bob"),
        ("LIKE", "bob"),
        ("FOLLOW", "bob"),
    ]
    tweets = {n["kind"]: n["tweet"] for n in found}
    assert tweets["LIKE"]["id"] == original
    assert tweets["REPLY"]["id"] == reply
    assert tweets["QUOTE"]["id"] == quote
    assert tweets["FOLLOW"] is None
    assert not any(n["read"] for n in found)


async def test_nobody_is_notified_of_their_own_acts(client, clean) -> None:
    w = await world(client, clean)
    original = await w.tweet("alice", "mine")
    await w.act("alice", LIKE, id=original)
    await w.tweet("alice", "me again", replyToId=original)
    await w.tweet("alice", "@alice talks to herself", quoteOfId=original)
    await w.act("alice", RETWEET, id=original)
    assert await w.kinds("alice") == []


async def test_a_reply_that_also_mentions_makes_one_notification(client, clean) -> None:
    w = await world(client, clean)
    original = await w.tweet("alice", "question")
    await w.tweet("bob", "@alice @carol answer", replyToId=original)
    assert await w.kinds("alice") == [("REPLY", "bob")]
    assert await w.kinds("carol") == [("MENTION", "bob")]


async def test_an_undone_like_removes_its_unread_notification(client, clean) -> None:
    w = await world(client, clean)
    original = await w.tweet("alice", "likeable")
    await w.act("bob", LIKE, id=original)
    await w.act("bob", UNLIKE, id=original)
    assert await w.kinds("alice") == []


async def test_an_undone_follow_removes_its_unread_notification(client, clean) -> None:
    w = await world(client, clean)
    await w.act("bob", FOLLOW, id=w.ids["alice"])
    await w.act("bob", UNFOLLOW, id=w.ids["alice"])
    assert await w.kinds("alice") == []


async def test_a_read_notification_stays_when_the_act_is_undone(client, clean) -> None:
    w = await world(client, clean)
    await w.act("bob", FOLLOW, id=w.ids["alice"])
    await w.act("alice", MARK_READ)
    await w.act("bob", UNFOLLOW, id=w.ids["alice"])
    assert [n["read"] for n in await w.notifications("alice")] == [True]


async def test_like_unlike_like_before_the_worker_runs_notifies_once(client, clean) -> None:
    w = await world(client, clean)
    original = await w.tweet("alice", "flip")
    for document in (LIKE, UNLIKE, LIKE):
        body = await gql(client, document, {"id": original}, token=w.tokens["bob"])
        assert "errors" not in body
    await drain(clean, w.consumer)
    assert await w.kinds("alice") == [("LIKE", "bob")]


async def test_undoing_a_retweet_or_deleting_a_reply_takes_its_notification(client, clean) -> None:
    w = await world(client, clean)
    original = await w.tweet("alice", "original")
    await w.act("bob", RETWEET, id=original)
    reply = await w.tweet("bob", "reply", replyToId=original)
    await w.act("bob", UNDO_RETWEET, id=original)
    await w.act("bob", DELETE, id=reply)
    assert await w.kinds("alice") == []


async def test_a_redelivered_event_makes_nothing_twice(client, clean) -> None:
    w = await world(client, clean)
    original = await w.tweet("alice", "once")
    await w.act("bob", LIKE, id=original)
    await w.act("alice", MARK_READ)  # the unread-like key no longer guards it
    [event] = [
        e
        for e in await _stream_events(clean)
        if e.kind == outbox.LIKED and e.payload["tweet_id"] == _number(original)
    ]
    await notification_worker.handle(clean, event)
    await notification_worker.handle(clean, event)
    assert await w.kinds("alice") == [("LIKE", "bob")]


async def test_unread_count_is_the_viewers_own_and_mark_read_returns_how_many(
    client, clean
) -> None:
    w = await world(client, clean)
    await w.act("bob", FOLLOW, id=w.ids["alice"])
    await w.act("carol", FOLLOW, id=w.ids["alice"])
    body = await gql(client, UNREAD, {"handle": "bob"}, token=w.tokens["alice"])
    assert body["data"] == {
        "viewer": {"unreadNotificationCount": 2},
        "user": {"unreadNotificationCount": None},
    }
    assert (await w.act("alice", MARK_READ))["markNotificationsRead"] == 2
    assert (await w.act("alice", MARK_READ))["markNotificationsRead"] == 0
    body = await gql(client, UNREAD, {"handle": "bob"}, token=w.tokens["alice"])
    assert body["data"]["viewer"]["unreadNotificationCount"] == 0


async def test_notifications_page_newest_first_with_stable_cursors(client, clean) -> None:
    w = await world(client, clean)
    await w.add("dave", "erin")
    for fan in ("bob", "carol", "dave"):
        await w.act(fan, FOLLOW, id=w.ids["alice"])
    first = await gql(client, NOTIFICATIONS, {"first": 2}, token=w.tokens["alice"])
    page = first["data"]["notifications"]
    assert [e["node"]["actor"]["handle"] for e in page["edges"]] == ["dave", "carol"]
    assert page["pageInfo"]["hasNextPage"] is True
    await w.act("erin", FOLLOW, id=w.ids["alice"])  # arrives at the top, not mid-list
    after = page["pageInfo"]["endCursor"]
    second = await gql(client, NOTIFICATIONS, {"first": 2, "after": after}, token=w.tokens["alice"])
    page = second["data"]["notifications"]
    assert [e["node"]["actor"]["handle"] for e in page["edges"]] == ["bob"]
    assert page["pageInfo"]["hasNextPage"] is False


async def test_notifications_need_a_token_and_a_sane_page_size(client, clean) -> None:
    w = await world(client, clean)
    assert error_codes(await gql(client, NOTIFICATIONS)) == ["UNAUTHENTICATED"]
    assert error_codes(await gql(client, MARK_READ)) == ["UNAUTHENTICATED"]
    too_many = await gql(client, NOTIFICATIONS, {"first": 101}, token=w.tokens["alice"])
    assert error_codes(too_many) == ["BAD_USER_INPUT"]


async def test_node_finds_a_notification_for_its_recipient_only(client, clean) -> None:
    w = await world(client, clean)
    await w.act("bob", FOLLOW, id=w.ids["alice"])
    [notification] = await w.notifications("alice")
    mine = await gql(client, NODE, {"id": notification["id"]}, token=w.tokens["alice"])
    assert mine["data"]["node"] == {"id": notification["id"], "kind": "FOLLOW"}
    theirs = await gql(client, NODE, {"id": notification["id"]}, token=w.tokens["bob"])
    assert theirs["data"]["node"] is None
    anonymous = await gql(client, NODE, {"id": notification["id"]})
    assert anonymous["data"]["node"] is None


async def _stream_events(rt: Runtime) -> list[streams.Event]:
    entries = await rt.redis.xrange(streams.STREAM)
    return [streams._event(entry_id, fields) for entry_id, fields in entries]


def _number(global_id: str) -> int:
    return from_global_id(global_id)[1]
