"""Shared setup for the in-process measurements: a runtime and bulk-made users.

Measurements that are not request load (fan-out, celebrity) drive Chirp's own
services and workers in this process, on a fresh embedded data directory (or
the external servers in the environment), with users and follows bulk-loaded
the way ``chirp seed`` does, so setup takes seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import percentile
from chirp.config import Settings
from chirp.graph.follows import FollowGraph
from chirp.persistence import bulk
from chirp.runtime import Runtime, open_runtime

#: A placeholder hash: measured users never log in.
_NO_LOGIN = "$argon2id$bench-user-cannot-log-in"


@contextlib.asynccontextmanager
async def bench_runtime(data_dir: Path | None, **overrides: Any) -> AsyncIterator[Runtime]:
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="chirp-bench-", ignore_cleanup_errors=True)
            data_dir = Path(stack.enter_context(tmp))
        settings = Settings(data_dir=data_dir, log_level="WARNING", **overrides)
        async with open_runtime(settings) as rt:
            yield rt


async def make_users(rt: Runtime, count: int, *, prefix: str) -> list[int]:
    """``count`` users named ``{prefix}{n}``, in one COPY."""
    ids = [rt.ids.next_id() for _ in range(count)]
    now = datetime.now(UTC)
    rows = [
        (uid, f"{prefix}{n}", f"{prefix}{n}", "", _NO_LOGIN, now, 0) for n, uid in enumerate(ids)
    ]
    async with rt.db.transaction() as tx:
        await bulk.copy_users(tx, rows)
    return ids


async def follow(rt: Runtime, *, followers: Sequence[int], followee: int) -> None:
    graph = FollowGraph(rt.graph)
    await graph.ensure_users(user_ids=[followee, *followers])
    await graph.bulk_follow(edges=[(f, followee, 1) for f in followers])


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "samples": len(ordered),
        "p50_ms": round(percentile(ordered, 50), 3),
        "p99_ms": round(percentile(ordered, 99), 3),
        "max_ms": round(ordered[-1], 3),
    }
