"""Live subscriptions over real websockets against a running server, on both
subprotocols: the home feed (pushed and celebrity tweets), notifications,
auth, limits, keep-alives, cleanup, and delivery across processes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from functools import partial

import pytest

from chirp import graphql_http
from chirp.context import MAX_SUBSCRIPTIONS_PER_CONNECTION
from chirp.ids import NodeKind, to_global_id
from chirp.persistence import live, streams
from chirp.runtime import Runtime
from chirp.services import follows, tweets
from chirp.workers import trends as trend_worker
from tests.live import (
    PROTOCOLS,
    TRANSPORT_WS,
    GraphQLSocket,
    listeners,
    running_server,
    until_listening,
)
from tests.support import create_users, eventually, tokens_for

HOME_FEED = "subscription { homeFeed { id text author { handle } } }"
NOTIFICATIONS = "subscription { notifications { kind actor { handle } tweet { id } read } }"


def tweet_gid(tweet_id: int) -> str:
    return to_global_id(NodeKind.TWEET, tweet_id)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_followed_users_tweet_arrives(clean: Runtime, protocol: str) -> None:
    alice, bob, carol = await create_users(clean, ["alice", "bob", "carol"])
    await follows.follow(clean, follower_id=alice.id, followee_id=bob.id)
    [token] = await tokens_for(clean, alice.id)
    async with running_server(clean) as url, GraphQLSocket.open(url, protocol, token=token) as ws:
        await ws.subscribe("feed", HOME_FEED)
        await until_listening(clean, live.timeline_channel(alice.id))
        await tweets.post_tweet(clean, author_id=carol.id, text="not followed")
        posted = await tweets.post_tweet(clean, author_id=bob.id, text="hello followers")
        data = await ws.next_data("feed")
        assert data["homeFeed"] == {
            "id": tweet_gid(posted.id),
            "text": "hello followers",
            "author": {"handle": "bob"},
        }
        own = await tweets.post_tweet(clean, author_id=alice.id, text="mine too")
        assert (await ws.next_data("feed"))["homeFeed"]["id"] == tweet_gid(own.id)


async def test_a_celebritys_tweet_arrives_through_the_author_channel(clean: Runtime) -> None:
    rt = dataclasses.replace(
        clean, settings=clean.settings.model_copy(update={"celebrity_followers": 2})
    )
    alice, fan, star, rising = await create_users(rt, ["alice", "fan", "star", "rising"])
    for follower in (alice, fan):
        await follows.follow(rt, follower_id=follower.id, followee_id=star.id)
    await follows.follow(rt, follower_id=fan.id, followee_id=rising.id)
    [token] = await tokens_for(rt, alice.id)
    async with running_server(rt) as url, GraphQLSocket.open(url, token=token) as ws:
        await ws.subscribe("feed", HOME_FEED)
        await until_listening(rt, live.author_channel(star.id))
        posted = await tweets.post_tweet(rt, author_id=star.id, text="to my many fans")
        assert (await ws.next_data("feed"))["homeFeed"]["id"] == tweet_gid(posted.id)
        # A celebrity followed while watching is listened to from then on.
        await follows.follow(rt, follower_id=alice.id, followee_id=rising.id)
        await until_listening(rt, live.author_channel(rising.id))
        later = await tweets.post_tweet(rt, author_id=rising.id, text="new fan")
        assert (await ws.next_data("feed"))["homeFeed"]["id"] == tweet_gid(later.id)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_notifications_arrive_for_each_kind(clean: Runtime, protocol: str) -> None:
    alice, bob = await create_users(clean, ["alice", "bob"])
    [token] = await tokens_for(clean, alice.id)
    async with running_server(clean) as url, GraphQLSocket.open(url, protocol, token=token) as ws:
        await ws.subscribe("n", NOTIFICATIONS)
        await until_listening(clean, live.notifications_channel(alice.id))
        original = await tweets.post_tweet(clean, author_id=alice.id, text="original")
        post, target = partial(tweets.post_tweet, clean, author_id=bob.id), original.id
        acts = [
            ("FOLLOW", partial(follows.follow, clean, follower_id=bob.id, followee_id=alice.id)),
            ("LIKE", partial(tweets.like, clean, user_id=bob.id, tweet_id=target)),
            ("REPLY", partial(post, text="r", reply_to_id=target)),
            ("MENTION", partial(post, text="hey @alice")),
            ("QUOTE", partial(post, text="q", quote_of_id=target)),
            ("RETWEET", partial(tweets.retweet, clean, user_id=bob.id, tweet_id=target)),
        ]
        for kind, act in acts:
            await act()
            data = (await ws.next_data("n"))["notifications"]
            assert (data["kind"], data["actor"]["handle"], data["read"]) == (kind, "bob", False)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("token", [None, "not-a-live-token"])
async def test_subscribing_without_a_valid_token_is_unauthenticated(
    clean: Runtime, protocol: str, token: str | None
) -> None:
    async with running_server(clean) as url, GraphQLSocket.open(url, protocol, token=token) as ws:
        for op_id, document in (("feed", HOME_FEED), ("n", NOTIFICATIONS)):
            await ws.subscribe(op_id, document)
            errors = await ws.errors(op_id)
            assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
        assert clean.broker.stats.subscribers == 0


async def test_a_connection_holds_a_limited_number_of_subscriptions(clean: Runtime) -> None:
    [alice] = await create_users(clean, ["alice"])
    [token] = await tokens_for(clean, alice.id)
    async with running_server(clean) as url, GraphQLSocket.open(url, token=token) as ws:
        for n in range(MAX_SUBSCRIPTIONS_PER_CONNECTION):
            await ws.subscribe(f"s{n}", NOTIFICATIONS)

        async def all_held() -> bool:
            return clean.broker.stats.subscribers == MAX_SUBSCRIPTIONS_PER_CONNECTION

        await eventually(all_held)
        await ws.subscribe("one-too-many", NOTIFICATIONS)
        errors = await ws.errors("one-too-many")
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
        await ws.complete("s0")  # frees a slot once its cleanup ran

        async def slot_freed() -> bool:
            return clean.broker.stats.subscribers == MAX_SUBSCRIPTIONS_PER_CONNECTION - 1

        await eventually(slot_freed)
        await ws.subscribe("again", NOTIFICATIONS)
        await eventually(all_held)


async def test_complete_and_abrupt_disconnects_leave_nothing_behind(clean: Runtime) -> None:
    [alice] = await create_users(clean, ["alice"])
    [token] = await tokens_for(clean, alice.id)
    channels = [live.timeline_channel(alice.id), live.notifications_channel(alice.id)]
    async with running_server(clean) as url:
        baseline_tasks = len(asyncio.all_tasks())
        async with GraphQLSocket.open(url, token=token) as ws:
            await ws.subscribe("feed", HOME_FEED)
            await ws.subscribe("n", NOTIFICATIONS)
            for channel in channels:
                await until_listening(clean, channel)
            await ws.complete("n")

            async def notifications_gone() -> bool:
                return await listeners(clean, channels[1]) == 0

            await eventually(notifications_gone)
            assert clean.broker.stats.subscribers == 1
            ws.ws.transport.abort()  # the client vanishes: no complete, no close frame

        async def all_gone() -> bool:
            stats = clean.broker.stats
            counts = [await listeners(clean, channel) for channel in channels]
            return (
                (stats.subscribers, stats.channels, stats.presence_keys) == (0, 0, 0)
                and counts == [0, 0]
                and len(asyncio.all_tasks()) <= baseline_tasks
            )

        await eventually(all_gone)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_server_sends_keep_alives(
    clean: Runtime, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphql_http, "KEEP_ALIVE_SECONDS", 0.05)
    async with running_server(clean) as url, GraphQLSocket.open(url, protocol) as ws:
        keep_alives = []
        while len(keep_alives) < 2:  # on an idle connection, nothing else arrives
            message = json.loads(await asyncio.wait_for(ws.ws.recv(), 5))
            keep_alives.append(message["type"])
        assert set(keep_alives) == {"ping" if protocol == TRANSPORT_WS else "ka"}


async def test_a_publish_from_another_process_reaches_a_subscriber(
    clean: Runtime, settings
) -> None:
    alice, bob = await create_users(clean, ["alice", "bob"])
    [token] = await tokens_for(clean, alice.id)
    posted = await tweets.post_tweet(clean, author_id=bob.id, text="from elsewhere")
    script = (
        "import asyncio, sys\n"
        "from redis.asyncio import Redis\n"
        "from chirp.persistence.redis import connect_redis\n"
        "from chirp.services import live\n"
        "class Rt:  # all the publishing side needs\n"
        "    redis = connect_redis(sys.argv[1])\n"
        "async def main():\n"
        f"    sent = await live.tweet_entered_timelines(Rt, user_ids=[{alice.id}], "
        f"tweet_id={posted.id})\n"
        "    assert sent == 1, sent\n"
        "asyncio.run(main())\n"
    )
    async with running_server(clean) as url, GraphQLSocket.open(url, token=token) as ws:
        await ws.subscribe("feed", HOME_FEED)
        await until_listening(clean, live.timeline_channel(alice.id))
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", script, str(settings.redis_url)],
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert (await ws.next_data("feed"))["homeFeed"]["text"] == "from elsewhere"


TRENDS = "subscription { trends(window: HOUR, first: 3) { hashtag tweetCount } }"


async def test_the_trends_subscription_fires_on_change_and_not_otherwise(clean: Runtime) -> None:
    a, b, c = await create_users(clean, ["a", "b", "c"])

    async def drained() -> bool:
        return await streams.is_drained(clean.redis, group=trend_worker.GROUP)

    async def tags(ws: GraphQLSocket) -> list[str]:
        return [t["hashtag"] for t in (await ws.next_data("t"))["trends"]]

    async with running_server(clean) as url, GraphQLSocket.open(url) as ws:
        await ws.subscribe("t", TRENDS)
        assert await tags(ws) == []  # the list as it is, at once
        await tweets.post_tweet(clean, author_id=a.id, text="#alpha")
        assert await tags(ws) == ["alpha"]
        # Neither a repeat by the same author nor a second author changes the list.
        await tweets.post_tweet(clean, author_id=a.id, text="#alpha again")
        await tweets.post_tweet(clean, author_id=b.id, text="#alpha too")
        await eventually(drained)
        for author in (a, b, c):
            await tweets.post_tweet(clean, author_id=author.id, text="#beta")
        seen = [["alpha"]]
        while seen[-1] != ["beta", "alpha"]:
            seen.append(await tags(ws))
            assert seen[-1] != seen[-2], seen  # sent only on a change
    assert clean.broker.stats.shared == 0
