"""Trending hashtags: exact decay, one use per author per window, deletes,
pruning, rebasing, rebuilds after Redis loss, the worker and the API.

Most tests drive the handlers with simulated time: tweet ids are minted at
chosen instants (a use's time is its Snowflake's) and every call passes
``now``; the half-lives are a minute (HOUR) and ten minutes (DAY).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time

import httpx
import pytest

from chirp.persistence import streams
from chirp.runtime import Runtime
from chirp.services import trends, tweets
from chirp.services.trends import NOISE_SCORE, TrendWindow, first_id_at, window_spec
from chirp.workers import trends as trend_worker
from chirp.workers.consumer import StreamConsumer
from chirp.workers.relay import Relay
from tests.support import create_users, error_codes, eventually, gql

HALF_LIFE = 60.0
DAY_HALF_LIFE = 600.0
#: Simulated time starts here (2027); far from the real clock on purpose.
T0 = 1_800_000_000.0
_sequence = itertools.count(1)


@pytest.fixture
def rt(clean: Runtime) -> Runtime:
    settings = clean.settings.model_copy(
        update={
            "trends_hour_half_life_seconds": HALF_LIFE,
            "trends_day_half_life_seconds": DAY_HALF_LIFE,
        }
    )
    return dataclasses.replace(clean, settings=settings)


def tweet_id_at(seconds: float) -> int:
    """A unique Snowflake id minted at ``seconds``."""
    return first_id_at(seconds) | (next(_sequence) % 4096)


async def use(rt: Runtime, author: int, at: float, *tags: str, now: float | None = None) -> int:
    """A tweet by ``author`` at ``at`` carrying ``tags``, handled at ``now`` (default: at)."""
    tweet_id = tweet_id_at(at)
    await trends.on_tweet_added(
        rt, tweet_id=tweet_id, author_id=author, hashtags=tags, now=at if now is None else now
    )
    return tweet_id


async def board(
    rt: Runtime, now: float, window: TrendWindow = TrendWindow.HOUR
) -> dict[str, tuple[float, int]]:
    """Tag -> (score, tweetCount), in ranking order."""
    top = await trends.top(rt, window=window, first=100, now=now)
    return {t.hashtag: (t.score, t.tweet_count) for t in top}


def ranking(scores: dict[str, tuple[float, int]]) -> list[str]:
    return list(scores)


async def test_score_decays_exactly_with_the_half_life(rt: Runtime) -> None:
    for author in (1, 2, 3):
        await use(rt, author, T0, "decay")
    assert (await board(rt, T0))["decay"] == pytest.approx((3.0, 3))
    score, count = (await board(rt, T0 + HALF_LIFE))["decay"]
    assert score == pytest.approx(1.5, rel=1e-12)
    assert count == 0  # tweetCount: uses in the last window length only
    assert (await board(rt, T0 + 2.5 * HALF_LIFE))["decay"][0] == pytest.approx(3 * 2**-2.5)
    day = await board(rt, T0 + DAY_HALF_LIFE, TrendWindow.DAY)
    assert day["decay"][0] == pytest.approx(1.5, rel=1e-12)


async def test_a_burst_overtakes_a_steady_tag(rt: Runtime) -> None:
    for k in range(10):  # one new account a minute for ten minutes
        await use(rt, 100 + k, T0 + k * HALF_LIFE, "steady")
    await use(rt, 1, T0 + 540, "burst")
    assert ranking(await board(rt, T0 + 541)) == ["steady", "burst"]
    for author in range(2, 7):  # five more accounts within seconds
        await use(rt, author, T0 + 560 + author, "burst")
    scores = await board(rt, T0 + 570)
    assert ranking(scores) == ["burst", "steady"]
    assert scores["burst"][1] == 6 and scores["steady"][1] == 1


async def test_an_old_burst_decays_below_a_fresh_smaller_one(rt: Runtime) -> None:
    for author in range(10):
        await use(rt, author, T0, "old")
    assert ranking(await board(rt, T0 + 1)) == ["old"]
    for author in range(20, 23):
        await use(rt, author, T0 + 3 * HALF_LIFE, "fresh")
    scores = await board(rt, T0 + 3 * HALF_LIFE)
    assert ranking(scores) == ["fresh", "old"]
    assert scores["old"][0] == pytest.approx(10 / 8) and scores["fresh"][0] == pytest.approx(3)


async def test_one_author_repeating_a_tag_counts_once_per_window(rt: Runtime) -> None:
    for offset in (0, 10, 50):
        await use(rt, 7, T0 + offset, "solo")
    score, count = (await board(rt, T0 + 50))["solo"]
    assert (score, count) == (pytest.approx(2 ** (-50 / HALF_LIFE)), 1)
    await use(rt, 8, T0 + 55, "solo")  # another account counts
    assert (await board(rt, T0 + 55))["solo"][1] == 2
    await use(rt, 7, T0 + 61, "solo")  # a window length after its counted use: again
    score, count = (await board(rt, T0 + 61))["solo"]
    assert score == pytest.approx(2 ** (-61 / 60) + 2 ** (-6 / 60) + 1)
    assert count == 2  # 8's use and 7's second; 7's first is older than a window
    # In DAY (window length 600 s) the second use of 7 did not count.
    assert (await board(rt, T0 + 61, TrendWindow.DAY))["solo"][1] == 2


async def test_redelivered_and_late_events_change_nothing(rt: Runtime) -> None:
    tweet_id = await use(rt, 1, T0, "again")
    await use(rt, 2, T0, "again")
    before = await board(rt, T0 + 5)
    await trends.on_tweet_added(rt, tweet_id=tweet_id, author_id=1, hashtags=["again"], now=T0 + 5)
    assert await board(rt, T0 + 5) == before
    removed = [(tweet_id, 1, ["again"])]
    await trends.on_tweets_removed(rt, tagged=removed, now=T0 + 6)
    after_delete = await board(rt, T0 + 6)
    await trends.on_tweets_removed(rt, tagged=removed, now=T0 + 6)
    await trends.on_tweet_added(rt, tweet_id=tweet_id, author_id=1, hashtags=["again"], now=T0 + 6)
    assert await board(rt, T0 + 6) == after_delete == {"again": (pytest.approx(2**-0.1), 1)}


async def test_a_delete_handled_before_its_add_keeps_the_use_out(rt: Runtime) -> None:
    tweet_id = tweet_id_at(T0)
    await trends.on_tweets_removed(rt, tagged=[(tweet_id, 1, ["ghost"])], now=T0)
    await trends.on_tweet_added(rt, tweet_id=tweet_id, author_id=1, hashtags=["ghost"], now=T0)
    assert await board(rt, T0) == {}


async def test_deleting_tweets_lowers_counts(rt: Runtime) -> None:
    """Real tweets and the delete's real outbox payload, at real time."""
    users = await create_users(rt, ["ann", "bob", "cy"])
    posted = [
        await tweets.post_tweet(rt, author_id=u.id, text=f"#Gone and #kept by {u.handle}")
        for u in users
    ]
    repeat = await tweets.post_tweet(rt, author_id=users[0].id, text="#gone again")
    for tweet in [*posted, repeat]:
        await trends.on_tweet_added(
            rt, tweet_id=tweet.id, author_id=tweet.author_id, hashtags=tweet.hashtags
        )
    assert (await board(rt, time.time()))["gone"][1] == 3
    await rt.db.execute("DELETE FROM outbox")
    for tweet in (posted[0], posted[1], repeat):
        await tweets.delete_tweet(rt, tweet_id=tweet.id, actor_id=tweet.author_id)
    for row in await rt.db.fetch("SELECT payload FROM outbox ORDER BY id"):
        await trends.on_tweets_removed(rt, tagged=json.loads(row["payload"]).get("tagged", []))
    now = time.time()
    scores = await board(rt, now)
    assert scores["gone"][1] == 1 and scores["kept"][1] == 1
    assert scores["gone"][0] == pytest.approx(1, rel=0.01)


async def test_tags_decayed_to_noise_are_pruned(rt: Runtime) -> None:
    await use(rt, 1, T0, "fading")
    spec = window_spec(rt, TrendWindow.HOUR)
    assert await rt.redis.exists(spec.prefix + "uses:fading")
    quiet = spec.horizon + 1  # one use is below NOISE_SCORE by now
    assert 2 ** (-quiet / HALF_LIFE) < NOISE_SCORE
    assert await board(rt, T0 + quiet) == {}  # hidden at once
    await use(rt, 2, T0 + quiet, "other")  # the next write drops it
    assert await rt.redis.zscore(spec.prefix + "score", "fading") is None
    assert not await rt.redis.exists(spec.prefix + "uses:fading", spec.prefix + "authors:fading")


async def test_rebasing_the_epoch_keeps_scores_exact(rt: Runtime) -> None:
    spec = window_spec(rt, TrendWindow.HOUR)
    hours = 40  # past REBASE_EXPONENT half-lives, one new account each
    for k in range(hours):
        await use(rt, 100 + k, T0 + k * HALF_LIFE, "long")
    epoch = float(await rt.redis.hget(spec.prefix + "meta", "epoch"))
    assert epoch > T0  # moved forward at least once
    now = T0 + (hours - 1) * HALF_LIFE
    expected = sum(2.0**-k for k in range(hours))
    assert (await board(rt, now))["long"][0] == pytest.approx(expected, rel=1e-12)


async def test_after_redis_is_lost_trends_are_rebuilt_from_postgres(rt: Runtime) -> None:
    users = await create_users(rt, ["ann", "bob", "cy", "dee"])
    for n, user in enumerate(users):
        for k in range(n + 1):  # repeats within the window count once
            tweet = await tweets.post_tweet(rt, author_id=user.id, text=f"#Lost{k} #found {k}")
            await trends.on_tweet_added(
                rt, tweet_id=tweet.id, author_id=user.id, hashtags=tweet.hashtags
            )
    doomed = await tweets.post_tweet(rt, author_id=users[0].id, text="#doomed")
    await trends.on_tweet_added(rt, tweet_id=doomed.id, author_id=users[0].id, hashtags=["doomed"])
    await tweets.delete_tweet(rt, tweet_id=doomed.id, actor_id=users[0].id)
    await trends.on_tweets_removed(rt, tagged=[(doomed.id, users[0].id, ["doomed"])])
    now = time.time()
    before = await board(rt, now)
    assert before["found"][1] == 4 and "doomed" not in before
    await rt.redis.flushall()
    after = await board(rt, now)
    assert ranking(after) == ranking(before)
    for tag, (score, count) in before.items():
        assert after[tag] == (pytest.approx(score, rel=1e-9), count)
    spec = window_spec(rt, TrendWindow.HOUR)
    assert await rt.redis.hget(spec.prefix + "meta", "built") == "1"


async def test_the_worker_counts_and_publishes_changes(rt: Runtime) -> None:
    users = await create_users(rt, ["ann", "bob"])
    consumer = StreamConsumer(rt, group=trend_worker.GROUP, handler=trend_worker.handle)
    pubsub = rt.redis.pubsub()
    await pubsub.subscribe(trends.channel(TrendWindow.HOUR))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation

    async def drain() -> None:
        async def drained() -> bool:
            await Relay(rt).relay_once()
            await consumer.step(block_ms=1)
            return await streams.is_drained(rt.redis, group=trend_worker.GROUP)

        await eventually(drained)

    async def signals() -> int:
        count = 0
        while await pubsub.get_message(timeout=0.05):
            count += 1
        return count

    try:
        first = await tweets.post_tweet(rt, author_id=users[0].id, text="#live")
        await drain()
        assert (await board(rt, time.time()))["live"][1] == 1
        assert await signals() == 1
        await tweets.post_tweet(rt, author_id=users[0].id, text="#live repeated")
        await tweets.retweet(rt, user_id=users[1].id, tweet_id=first.id)
        await drain()
        assert await signals() == 0  # nothing counted, nothing announced
        await tweets.delete_tweet(rt, tweet_id=first.id, actor_id=users[0].id)
        await drain()
        assert await signals() == 1
        assert "live" not in await board(rt, time.time())
    finally:
        await pubsub.aclose()


# ---------------------------------------------------------------- the API

TRENDS = """
query Trends($window: TrendWindow, $first: Int) {
  trends(window: $window, first: $first) { hashtag score tweetCount }
}
"""


async def test_trends_over_the_api(client: httpx.AsyncClient, clean: Runtime) -> None:
    users = await create_users(clean, ["ann", "bob", "cy"])
    for user in users:
        tweet = await tweets.post_tweet(clean, author_id=user.id, text="#Big day")
        await trends.on_tweet_added(
            clean, tweet_id=tweet.id, author_id=user.id, hashtags=tweet.hashtags
        )
    tweet = await tweets.post_tweet(clean, author_id=users[0].id, text="#small")
    await trends.on_tweet_added(clean, tweet_id=tweet.id, author_id=users[0].id, hashtags=["small"])
    body = await gql(client, TRENDS)
    listed = body["data"]["trends"]
    assert [(t["hashtag"], t["tweetCount"]) for t in listed] == [("big", 3), ("small", 1)]
    assert 2.9 < listed[0]["score"] <= 3.0
    day = await gql(client, TRENDS, {"window": "DAY", "first": 1})
    assert [t["hashtag"] for t in day["data"]["trends"]] == ["big"]
    for first in (101, -1):
        assert error_codes(await gql(client, TRENDS, {"first": first})) == ["BAD_USER_INPUT"]
