"""The event pipeline: outbox rows with their writes, the relay, consumer groups."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from chirp.errors import NotFound
from chirp.persistence import outbox, streams
from chirp.persistence.streams import Event
from chirp.runtime import Runtime
from chirp.services import follows, tweets
from chirp.workers.consumer import MAX_DELIVERIES, StreamConsumer
from chirp.workers.relay import Relay
from tests.support import create_users, eventually

GROUP = "test-group"


class Recorder:
    """A handler that remembers what it saw (and can be told to fail)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.seen: list[Event] = []
        self.fail = fail

    async def __call__(self, rt: Runtime, event: Event) -> None:
        self.seen.append(event)
        if self.fail:
            raise RuntimeError("handler failed")


async def outbox_rows(rt: Runtime) -> list[tuple[str, dict]]:
    rows = await rt.db.fetch("SELECT kind, payload FROM outbox ORDER BY id")
    return [(row["kind"], json.loads(row["payload"])) for row in rows]


async def test_writes_commit_their_events_with_them(clean: Runtime) -> None:
    author, fan = await create_users(clean, ["author", "fan"])
    tweet = await tweets.post_tweet(clean, author_id=author.id, text="hello #World")
    await tweets.retweet(clean, user_id=fan.id, tweet_id=tweet.id)
    await tweets.retweet(clean, user_id=fan.id, tweet_id=tweet.id)  # no change, no event
    await tweets.like(clean, user_id=fan.id, tweet_id=tweet.id)
    await tweets.like(clean, user_id=fan.id, tweet_id=tweet.id)  # no change, no event
    await tweets.unlike(clean, user_id=fan.id, tweet_id=tweet.id)
    retweet_id = await clean.db.fetchval("SELECT id FROM tweets WHERE retweet_of_id IS NOT NULL")
    await tweets.undo_retweet(clean, user_id=fan.id, tweet_id=tweet.id)
    await follows.follow(clean, follower_id=fan.id, followee_id=author.id)
    await follows.unfollow(clean, follower_id=fan.id, followee_id=author.id)
    await tweets.delete_tweet(clean, tweet_id=tweet.id, actor_id=author.id)
    assert await outbox_rows(clean) == [
        (outbox.TWEET_ADDED, {"tweet_id": tweet.id, "author_id": author.id, "hashtags": ["world"]}),
        (outbox.TWEET_ADDED, {"tweet_id": retweet_id, "author_id": fan.id}),
        (outbox.LIKED, {"user_id": fan.id, "tweet_id": tweet.id}),
        (outbox.UNLIKED, {"user_id": fan.id, "tweet_id": tweet.id}),
        (outbox.TWEETS_REMOVED, {"tweets": [[retweet_id, fan.id]]}),
        (outbox.FOLLOWED, {"follower_id": fan.id, "followee_id": author.id}),
        (outbox.UNFOLLOWED, {"follower_id": fan.id, "followee_id": author.id}),
        (
            outbox.TWEETS_REMOVED,
            {"tweets": [[tweet.id, author.id]], "tagged": [[tweet.id, author.id, ["world"]]]},
        ),
    ]


async def test_a_failed_write_leaves_no_event(clean: Runtime) -> None:
    [author] = await create_users(clean, ["author"])
    with pytest.raises(NotFound):
        await tweets.post_tweet(clean, author_id=author.id, text="hi", reply_to_id=12345)
    assert await outbox_rows(clean) == []


async def test_deleting_a_retweeted_tweet_removes_the_retweets_too(clean: Runtime) -> None:
    author, fan = await create_users(clean, ["author", "fan"])
    tweet = await tweets.post_tweet(clean, author_id=author.id, text="hello")
    await tweets.retweet(clean, user_id=fan.id, tweet_id=tweet.id)
    retweet_id = await clean.db.fetchval("SELECT id FROM tweets WHERE retweet_of_id IS NOT NULL")
    await clean.db.execute("DELETE FROM outbox")
    await tweets.delete_tweet(clean, tweet_id=tweet.id, actor_id=author.id)
    assert await outbox_rows(clean) == [
        (outbox.TWEETS_REMOVED, {"tweets": [[tweet.id, author.id], [retweet_id, fan.id]]})
    ]


async def test_the_relay_moves_events_to_the_stream(clean: Runtime) -> None:
    [author] = await create_users(clean, ["author"])
    posted = [await tweets.post_tweet(clean, author_id=author.id, text=f"t{i}") for i in range(3)]
    assert await Relay(clean).relay_once() == 3
    assert await outbox_rows(clean) == []
    entries = await clean.redis.xrange(streams.STREAM)
    assert [int(f["payload"].split('"tweet_id": ')[1].split(",")[0]) for _, f in entries] == [
        t.id for t in posted
    ]


class CrashAfterPublish(Relay):
    """Dies after publishing, before its transaction deletes the rows."""

    async def relay_once(self) -> int:
        async with self._rt.db.transaction() as tx:
            rows = await outbox.claim(tx, limit=10)
            await streams.publish(self._rt.redis, rows)
            raise SystemExit("killed between publish and commit")


async def test_no_event_is_lost_in_the_crash_window(clean: Runtime) -> None:
    [author] = await create_users(clean, ["author"])
    # The writer's process "dies" right after commit: the event waits in Postgres.
    tweet = await tweets.post_tweet(clean, author_id=author.id, text="survives")
    with pytest.raises(SystemExit):
        await CrashAfterPublish(clean).relay_once()
    assert len(await outbox_rows(clean)) == 1  # the rollback kept the row
    assert await Relay(clean).relay_once() == 1  # a restarted relay sends it again
    recorder = Recorder()
    consumer = StreamConsumer(clean, group=GROUP, handler=recorder)
    await consumer.step(block_ms=10)
    # Delivered at least once (here twice); handlers are idempotent.
    assert [e.payload["tweet_id"] for e in recorder.seen] == [tweet.id, tweet.id]
    assert await streams.is_drained(clean.redis, group=GROUP)


async def test_a_writer_killed_right_after_commit_loses_nothing(clean: Runtime, settings) -> None:
    """A real process commits a tweet and is SIGKILLed before any relay ran;
    a relay elsewhere still publishes its event."""
    [author] = await create_users(clean, ["author"])
    script = (
        "import asyncio, os, sys\n"
        "from chirp.config import Settings\n"
        "from chirp.ids import Snowflake\n"
        "from chirp.persistence.postgres import Database\n"
        "from chirp.runtime import Runtime\n"
        "from chirp.services import tweets\n"
        "async def main():\n"
        "    db = await Database.connect(sys.argv[1])\n"
        "    rt = Runtime(settings=Settings(), db=db, redis=None, graph=None, ids=Snowflake(7),"
        " broker=None)\n"
        f"    await tweets.post_tweet(rt, author_id={author.id}, text='from afar')\n"
        "    os.kill(os.getpid(), 9)  # dies after the commit, before anything relays\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script, str(settings.database_url)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    assert [kind for kind, _ in await outbox_rows(clean)] == [outbox.TWEET_ADDED]
    assert await Relay(clean).relay_once() == 1


async def test_entries_of_a_dead_consumer_are_claimed(clean: Runtime) -> None:
    [author] = await create_users(clean, ["author"])
    await tweets.post_tweet(clean, author_id=author.id, text="orphaned")
    await Relay(clean).relay_once()
    await streams.ensure_group(clean.redis, group=GROUP)
    # A consumer takes the entry and dies before acknowledging it.
    taken = await streams.read_new(clean.redis, group=GROUP, consumer="dead", count=10, block_ms=10)
    assert len(taken) == 1
    recorder = Recorder()
    survivor = StreamConsumer(clean, group=GROUP, handler=recorder, name="alive", claim_idle_ms=50)

    async def claimed() -> bool:
        await survivor.step(block_ms=10)
        return len(recorder.seen) == 1

    await eventually(claimed)
    assert recorder.seen[0].id == taken[0].id
    assert await streams.is_drained(clean.redis, group=GROUP)


async def test_an_entry_that_keeps_failing_is_dead_lettered(clean: Runtime) -> None:
    [author] = await create_users(clean, ["author"])
    await tweets.post_tweet(clean, author_id=author.id, text="poison")
    await Relay(clean).relay_once()
    recorder = Recorder(fail=True)
    consumer = StreamConsumer(clean, group=GROUP, handler=recorder, claim_idle_ms=0)

    async def dead_lettered() -> bool:
        await consumer.step(block_ms=10)
        return await clean.redis.xlen(streams.DEAD_LETTERS) == 1

    await eventually(dead_lettered)
    assert len(recorder.seen) == MAX_DELIVERIES
    assert await streams.is_drained(clean.redis, group=GROUP)


async def test_worker_command_refuses_the_embedded_graph(tmp_path) -> None:
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "chirp", "worker"],
        env={"PATH": "/usr/bin:/bin", "CHIRP_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "single-process" in proc.stderr and "Traceback" not in proc.stderr
