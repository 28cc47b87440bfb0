"""``chirp seed``: Reed98 and synthetic graphs, tweets as postTweet would store them."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import chirp
from chirp.config import Settings
from chirp.graph.follows import FollowGraph
from chirp.ids import EPOCH_MS, SEQUENCE_MASK, timestamp_ms
from chirp.runtime import Runtime
from chirp.seed import REED98_PATH, SEED_PASSWORD
from chirp.seed.graphs import synthetic_graph
from chirp.seed.ids import SEED_WORKER_ID, compose_id, ids_for_times
from chirp.seed.load import AlreadySeeded, seed_reed98, seed_synthetic
from chirp.services import accounts
from chirp.services.text import MAX_TWEET_LENGTH, parse_tweet_text

REED98_USERS = 962
REED98_FRIENDSHIPS = 18_812
REED98_FOLLOWS = 2 * REED98_FRIENDSHIPS
SMALL = {"users": 300, "celebrities": 3, "follows_per_user": 50, "seed": 7}
SMALL_TWEETS = 1_000


async def user_ids_by_handle(rt: Runtime) -> dict[str, int]:
    return {row["handle"]: row["id"] for row in await rt.db.fetch("SELECT handle, id FROM users")}


async def follow_total(rt: Runtime) -> tuple[int, int]:
    """(followers summed, following summed) over every seeded user."""
    counts = await FollowGraph(rt.graph).counts(
        user_ids=list((await user_ids_by_handle(rt)).values())
    )
    return (
        sum(c.follower_count for c in counts.values()),
        sum(c.following_count for c in counts.values()),
    )


# ------------------------------------------------------------------ pure parts


def test_compose_id_embeds_the_time_and_ids_increase() -> None:
    ms = EPOCH_MS + 123_456_789
    one = compose_id(timestamp_ms=ms, worker_id=SEED_WORKER_ID, sequence=5)
    assert timestamp_ms(one) == ms
    with pytest.raises(ValueError):
        compose_id(timestamp_ms=EPOCH_MS - 1, worker_id=0, sequence=0)
    # Same millisecond takes the next sequence; past 4,096 the next millisecond.
    times = [ms] * (SEQUENCE_MASK + 3) + [ms + 5]
    ids = ids_for_times(times)
    assert ids == sorted(set(ids))
    assert [timestamp_ms(i) for i in ids[:2]] == [ms, ms]
    assert timestamp_ms(ids[SEQUENCE_MASK + 1]) == ms + 1
    assert timestamp_ms(ids[-1]) == ms + 5


def test_synthetic_graph_is_deterministic_whenever_it_runs() -> None:
    def pairs(seed: int, now_ms: int) -> list[tuple[int, int]]:
        graph = synthetic_graph(**{**SMALL, "seed": seed}, now_ms=now_ms)
        return [(a, b) for a, b, _ in graph.edges]

    now = 1_790_000_000_000
    assert pairs(7, now) == pairs(7, now + 86_400_000)
    assert pairs(7, now) != pairs(8, now)


# ------------------------------------------------------------------- reed98


async def test_reed98_loads_every_friendship_both_ways(clean: Runtime) -> None:
    summary = await seed_reed98(clean, tweets=0, seed=0, console=None)
    assert (summary.users, summary.follows) == (REED98_USERS, REED98_FOLLOWS)
    ids = await user_ids_by_handle(clean)
    assert len(ids) == REED98_USERS
    assert await follow_total(clean) == (REED98_FOLLOWS, REED98_FOLLOWS)
    # The file's first line is "1 0".
    graph = FollowGraph(clean.graph)
    assert await graph.follows_pairs(follower_id=ids["user_1"], followee_ids=[ids["user_0"]])
    assert await graph.follows_pairs(follower_id=ids["user_0"], followee_ids=[ids["user_1"]])
    user = await accounts.user_by_handle(clean, handle="user_961")
    assert user is not None and user.display_name == "Reed User 961"

    with pytest.raises(AlreadySeeded):
        await seed_reed98(clean, tweets=10, seed=1, console=None)
    assert len(await user_ids_by_handle(clean)) == REED98_USERS
    assert await clean.db.fetchval("SELECT count(*) FROM tweets") == 0
    assert await follow_total(clean) == (REED98_FOLLOWS, REED98_FOLLOWS)


# ---------------------------------------------------------------- synthetic


async def test_synthetic_celebrities_tweets_and_exact_counters(clean: Runtime) -> None:
    summary = await seed_synthetic(clean, **SMALL, tweets=SMALL_TWEETS, console=None)
    assert summary.users == SMALL["users"] and summary.tweets == SMALL_TWEETS
    db, ids = clean.db, await user_ids_by_handle(clean)
    graph = FollowGraph(clean.graph)

    # The celebrities are the most followed, and the counts are the plan's (deterministic).
    celebrities = {ids[f"user_{i}"] for i in range(SMALL["celebrities"])}
    assert set(await graph.most_followed(first=SMALL["celebrities"])) == celebrities
    planned = synthetic_graph(**SMALL, now_ms=1_790_000_000_000)
    in_degree = collections.Counter(planned.users.handles[b] for _, b, _ in planned.edges)
    counts = await graph.counts(user_ids=list(ids.values()))
    assert {h: counts[i].follower_count for h, i in ids.items()} == {h: in_degree[h] for h in ids}
    assert summary.follows == len(planned.edges)

    # Every tweet holds what postTweet would store for its text.
    rows = await db.fetch("SELECT id, text, hashtags, retweet_of_id, created_at FROM tweets")
    tags = collections.defaultdict(set)
    for row in await db.fetch("SELECT tag, tweet_id FROM tweet_hashtags"):
        tags[row["tweet_id"]].add(row["tag"])
    mentions = collections.defaultdict(list)
    for row in await db.fetch(
        "SELECT m.tweet_id, u.handle FROM tweet_mentions m JOIN users u ON u.id = m.user_id "
        "ORDER BY m.tweet_id, m.position"
    ):
        mentions[row["tweet_id"]].append(row["handle"])
    for row in rows:
        parsed = parse_tweet_text(row["text"])
        assert parsed.text == row["text"]
        if row["retweet_of_id"] is None:
            assert 0 < parsed.length <= MAX_TWEET_LENGTH
        else:
            assert row["text"] == ""
        assert tuple(row["hashtags"]) == parsed.hashtags
        assert tags[row["id"]] == set(parsed.hashtags)
        assert tuple(mentions[row["id"]]) == parsed.mentions
        assert timestamp_ms(row["id"]) == round(row["created_at"].timestamp() * 1000)
    assert sum(len(m) for m in mentions.values()) > 0 and len(tags) > 0

    # Counters are exact, like the live write paths keep them.
    assert await db.fetchval("SELECT sum(tweet_count) FROM users") == len(rows)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM users u WHERE tweet_count <> "
            "(SELECT count(*) FROM tweets t WHERE t.author_id = u.id)"
        )
        == 0
    )
    for counter, column in [
        ("reply_count", "(SELECT count(*) FROM tweets r WHERE r.reply_to_id = t.id)"),
        ("retweet_count", "(SELECT count(*) FROM tweets r WHERE r.retweet_of_id = t.id)"),
        ("like_count", "(SELECT count(*) FROM likes l WHERE l.tweet_id = t.id)"),
    ]:
        assert await db.fetchval(f"SELECT count(*) FROM tweets t WHERE {counter} <> {column}") == 0
        assert await db.fetchval(f"SELECT sum({counter}) FROM tweets") > 0, counter
    assert (
        await db.fetchval(
            "SELECT count(*) FROM users WHERE "
            "(id >> 22) + $1::bigint <> (extract(epoch FROM created_at) * 1000)::bigint",
            EPOCH_MS,
        )
        == 0
    )

    # One shared password, hashed once, that logs anyone in.
    assert await db.fetchval("SELECT count(DISTINCT password_hash) FROM users") == 1
    result = await accounts.log_in(clean, handle="user_42", password=SEED_PASSWORD)
    assert result.user.handle == "user_42"


# ---------------------------------------------------------------------- CLI


def run_cli(settings: Settings, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert settings.database_url and settings.redis_url
    env = {
        **os.environ,
        "CHIRP_DATABASE_URL": settings.database_url,
        "CHIRP_REDIS_URL": settings.redis_url,
        "CHIRP_DATA_DIR": str(data_dir),
        "CHIRP_LOG_LEVEL": "WARNING",
    }
    env.pop("CHIRP_NEO4J_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "chirp", "seed", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_seeds_then_refuses_a_second_time(
    clean: Runtime, settings: Settings, tmp_path: Path
) -> None:
    args = ("synthetic", "--users", "50", "--celebrities", "2", "--tweets", "100")
    try:
        first = run_cli(settings, tmp_path, *args)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("seeded synthetic: 50 users, "), first.stdout
        assert "100 tweets" in first.stdout
        assert await clean.db.fetchval("SELECT count(*) FROM tweets") == 100

        again = run_cli(settings, tmp_path, *args)
        assert again.returncode == 1
        assert again.stdout == ""
        assert again.stderr.startswith("chirp: refusing to seed: a user named 'user_0'")
        assert "Traceback" not in again.stderr
        assert await clean.db.fetchval("SELECT count(*) FROM users") == 50
    finally:  # the subprocess wrote into the session database; leave it empty
        await clean.db.execute("TRUNCATE users CASCADE")


def test_reed98_ships_inside_the_package() -> None:
    """A clone (or an install) with nothing beside it can seed reed98."""
    package = Path(chirp.__file__).resolve().parent
    assert REED98_PATH.is_relative_to(package)
    assert len(REED98_PATH.read_text().splitlines()) == REED98_FRIENDSHIPS
    assert "Network Data Repository" in (REED98_PATH.parent / "README.md").read_text()


def test_reed98_is_in_the_built_wheel(tmp_path: Path) -> None:
    """The edge list and its acknowledgement are package data, not just files in the repo."""
    repo = Path(chirp.__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(repo),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("chirp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "chirp/seed/data/socfb-Reed98/socfb-Reed98.edges" in names
    assert "chirp/seed/data/socfb-Reed98/README.md" in names
