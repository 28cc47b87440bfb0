"""Loading a planned seed: users and tweets by COPY, follows by graph bulk loads.

Postgres rows go in one transaction, so a failed seed leaves no half-loaded
tables behind (the graph load is idempotent, so re-running after a failure
converges). Seeding is for empty databases only: it refuses, before touching
anything, when ``user_0`` already exists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from chirp.graph.follows import BULK_CHUNK_EDGES, FollowGraph
from chirp.persistence import bulk
from chirp.persistence.bulk import UserRow
from chirp.persistence.postgres import Executor
from chirp.runtime import Runtime
from chirp.seed import REED98_PATH, SEED_PASSWORD
from chirp.seed.graphs import (
    SeedGraph,
    SeedUsers,
    handle,
    read_edge_list,
    reed98_graph,
    synthetic_graph,
)
from chirp.seed.ids import ids_for_times
from chirp.seed.tweets import TweetPlan, plan_tweets, to_datetime
from chirp.services.accounts import password_hasher

#: Rows per COPY: the bar moves a few times a second, and one batch is a few
#: MB in asyncpg's send buffer however big the seed.
COPY_BATCH_ROWS: Final = 10_000
#: Edges per ``bulk_follow`` call: four of its statements (~1 s on Ladybug),
#: so the follows bar moves about once a second.
GRAPH_BATCH_EDGES: Final = 4 * BULK_CHUNK_EDGES

_T = TypeVar("_T")


class SeedError(Exception):
    """A seed that cannot run; the message is one line for the terminal."""


class AlreadySeeded(SeedError):
    def __init__(self) -> None:
        super().__init__(
            f"refusing to seed: a user named {handle(0)!r} already exists; "
            "seeding is for empty databases (use a fresh CHIRP_DATA_DIR or database)"
        )


@dataclass(slots=True)
class SeedSummary:
    source: str
    users: int = 0
    follows: int = 0
    tweets: int = 0
    replies: int = 0
    retweets: int = 0
    likes: int = 0
    #: Seconds per phase, in the order they ran.
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    def line(self) -> str:
        phases = ", ".join(f"{name} {secs:.1f} s" for name, secs in self.phases.items())
        return (
            f"seeded {self.source}: {self.users:,} users, {self.follows:,} follows, "
            f"{self.tweets:,} tweets ({self.replies:,} replies, {self.retweets:,} retweets), "
            f"{self.likes:,} likes in {self.seconds:.1f} s ({phases})"
        )


async def seed_reed98(
    rt: Runtime, *, path: Path = REED98_PATH, tweets: int, seed: int, console: Console | None
) -> SeedSummary:
    """The socfb-Reed98 friendships (962 users, 37,624 follows) plus ``tweets``."""
    await _preflight(rt, tweets=tweets)
    started = time.perf_counter()
    try:
        pairs = await asyncio.to_thread(read_edge_list, path)
    except OSError as exc:
        raise SeedError(
            f"cannot read the edge list ({exc.strerror}: {path}); pass --path"
        ) from None
    except ValueError:
        raise SeedError(f"{path} is not an edge list of integer pairs") from None
    now_ms = time.time_ns() // 1_000_000
    try:
        graph = reed98_graph(pairs, now_ms=now_ms, seed=seed)
    except ValueError as exc:
        raise SeedError(f"{path}: {exc}") from None
    plan_seconds = time.perf_counter() - started
    return await _load(
        rt,
        source="reed98",
        graph=graph,
        tweets=tweets,
        seed=seed,
        now_ms=now_ms,
        plan_seconds=plan_seconds,
        console=console,
    )


async def seed_synthetic(
    rt: Runtime,
    *,
    users: int,
    celebrities: int,
    follows_per_user: int,
    tweets: int,
    seed: int,
    console: Console | None,
) -> SeedSummary:
    """A power-law graph whose first ``celebrities`` users are the most followed."""
    await _preflight(rt, tweets=tweets)
    started = time.perf_counter()
    now_ms = time.time_ns() // 1_000_000
    try:
        graph = synthetic_graph(
            users=users,
            celebrities=celebrities,
            follows_per_user=follows_per_user,
            seed=seed,
            now_ms=now_ms,
        )
    except ValueError as exc:
        raise SeedError(str(exc)) from None
    plan_seconds = time.perf_counter() - started
    return await _load(
        rt,
        source="synthetic",
        graph=graph,
        tweets=tweets,
        seed=seed,
        now_ms=now_ms,
        plan_seconds=plan_seconds,
        console=console,
    )


async def _preflight(rt: Runtime, *, tweets: int) -> None:
    """Refuse before any work: bad arguments, or a database that is not empty."""
    if tweets < 0:
        raise SeedError("--tweets cannot be negative")
    if await bulk.handle_exists(rt.db, handle(0)):
        raise AlreadySeeded()


async def _load(
    rt: Runtime,
    *,
    source: str,
    graph: SeedGraph,
    tweets: int,
    seed: int,
    now_ms: int,
    plan_seconds: float,
    console: Console | None,
) -> SeedSummary:
    summary = SeedSummary(source=source)
    users = graph.users
    user_ids = ids_for_times(users.created_ms)
    follows = FollowGraph(rt.graph)
    async with _progress(console) as progress:
        with _phase(summary, "plan"):
            task = progress.add_task("plan", total=None)  # a pulse: no steps to count
            plan = plan_tweets(
                count=tweets, users=users, user_ids=user_ids, now_ms=now_ms, seed=seed
            )
            user_rows = await _user_rows(users, user_ids=user_ids, tweet_counts=plan.tweet_counts)
            progress.update(task, total=1, completed=1)
        summary.phases["plan"] += plan_seconds
        async with rt.db.transaction() as tx:
            with _phase(summary, "users"):
                task = progress.add_task("users", total=len(user_rows))
                try:
                    await _batched(bulk.copy_users, tx, user_rows, progress, task)
                except asyncpg.UniqueViolationError:  # a concurrent seed got there first
                    raise AlreadySeeded() from None
            with _phase(summary, "follows"):
                task = progress.add_task("follows", total=len(graph.edges))
                await follows.ensure_users(user_ids=user_ids)
                for start in range(0, len(graph.edges), GRAPH_BATCH_EDGES):
                    chunk = graph.edges[start : start + GRAPH_BATCH_EDGES]
                    summary.follows += await follows.bulk_follow(
                        edges=[(user_ids[a], user_ids[b], since) for a, b, since in chunk]
                    )
                    progress.advance(task, len(chunk))
            with _phase(summary, "tweets"):
                await _copy_tweets(tx, plan, progress)
    summary.users, summary.tweets, summary.replies = len(user_rows), len(plan.tweets), plan.replies
    summary.retweets, summary.likes = plan.retweets, len(plan.likes)
    return summary


async def _user_rows(
    users: SeedUsers, *, user_ids: list[int], tweet_counts: list[int]
) -> list[UserRow]:
    """One row per user, all sharing one hash: argon2 costs ~50 ms per call by design."""
    password_hash = await asyncio.to_thread(password_hasher().hash, SEED_PASSWORD)
    return [
        (user_id, name, display, bio, password_hash, to_datetime(ms), count)
        for user_id, name, display, bio, ms, count in zip(
            user_ids,
            users.handles,
            users.display_names,
            users.bios,
            users.created_ms,
            tweet_counts,
            strict=True,
        )
    ]


async def _copy_tweets(tx: Executor, plan: TweetPlan, progress: Progress) -> None:
    """Tweets first (in id order, so reply and retweet targets precede them), then the rest."""
    tables: list[tuple[Callable[[Executor, Sequence[Any]], Awaitable[None]], Sequence[Any]]] = [
        (bulk.copy_tweets, plan.tweets),
        (bulk.copy_hashtags, plan.hashtags),
        (bulk.copy_mentions, plan.mentions),
        (bulk.copy_likes, plan.likes),
        (bulk.copy_links, plan.links),
        (bulk.copy_tweet_links, plan.tweet_links),
    ]
    task = progress.add_task("tweets", total=sum(len(rows) for _, rows in tables))
    for copy, rows in tables:
        await _batched(copy, tx, rows, progress, task)


async def _batched(
    copy: Callable[[Executor, Sequence[_T]], Awaitable[None]],
    tx: Executor,
    rows: Sequence[_T],
    progress: Progress,
    task: TaskID,
) -> None:
    for start in range(0, len(rows), COPY_BATCH_ROWS):
        batch = rows[start : start + COPY_BATCH_ROWS]
        await copy(tx, batch)
        progress.advance(task, len(batch))


@contextmanager
def _phase(summary: SeedSummary, name: str) -> Iterator[None]:
    """Time a block into ``summary.phases[name]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        summary.phases[name] = time.perf_counter() - started


@asynccontextmanager
async def _progress(console: Console | None) -> AsyncIterator[Progress]:
    """A bar per phase on stderr; silent when there is no console or it is not a terminal."""
    progress = Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=console is None or not console.is_terminal,
    )
    with progress:
        yield progress
