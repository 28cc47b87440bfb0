"""Visit counts of uncapped links: Redis counters, flushes into daily buckets,
no visit counted twice or lost in a hand-off, and what survives a Redis flush."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chirp.persistence import links, visit_counters
from chirp.runtime import Runtime
from chirp.workers import visits
from tests.support import eventually, gql, sign_up

SHORTEN = 'mutation S($alias: String) { shortenUrl(url: "https://e.com/", alias: $alias) { code } }'
STATS = """
query V($code: String!) {
  shortLink(code: $code) { visitCount dailyVisits(days: 2) { day visits } }
}
"""


@pytest.fixture
async def code(client: httpx.AsyncClient) -> str:
    token, _ = await sign_up(client, "linker")
    body = await gql(client, SHORTEN, {"alias": "counted"}, token=token)
    return body["data"]["shortenUrl"]["code"]


async def stats(http: httpx.AsyncClient, code: str) -> dict[str, Any]:
    body = await gql(http, STATS, {"code": code})
    assert "errors" not in body, body
    return body["data"]["shortLink"]


async def visit(http: httpx.AsyncClient, code: str, times: int) -> None:
    for _ in range(times):
        assert (await http.get(f"/s/{code}")).status_code == 302


async def counted(http: httpx.AsyncClient, code: str, expected: int) -> None:
    """Wait until the visits reached Redis (pushed every VISIT_PUSH_SECONDS)."""

    async def reached() -> bool:
        return (await stats(http, code))["visitCount"] == expected

    await eventually(reached)


async def recorded(rt: Runtime, code: str) -> tuple[int, int]:
    """(short_links.visit_count, today's bucket) in Postgres."""
    row = await rt.db.fetchrow(
        "SELECT s.visit_count, coalesce(v.visits, 0) AS today FROM short_links s "
        "LEFT JOIN link_visits v ON v.code = s.code AND v.day = $2 WHERE s.code = $1",
        code,
        datetime.now(UTC).date(),
    )
    assert row is not None
    return row["visit_count"], row["today"]


async def test_visits_are_counted_then_flushed_into_daily_buckets(
    client: httpx.AsyncClient, clean: Runtime, code: str
) -> None:
    await visit(client, code, 3)
    await counted(client, code, 3)  # pending in Redis
    assert await recorded(clean, code) == (0, 0)
    assert await visits.flush_once(clean) == 3
    assert await recorded(clean, code) == (3, 3)
    assert not await clean.redis.exists(visit_counters.PENDING, visit_counters.FLUSHING)
    after = await stats(client, code)
    assert after["visitCount"] == 3  # flushed, not counted twice
    today = datetime.now(UTC).date().isoformat()
    assert after["dailyVisits"][-1] == {"day": today, "visits": 3}
    assert after["dailyVisits"][0]["visits"] == 0
    await visit(client, code, 2)
    await counted(client, code, 5)
    assert (await stats(client, code))["dailyVisits"][-1]["visits"] == 5
    assert await visits.flush_once(clean) == 2
    assert await recorded(clean, code) == (5, 5)
    assert await visits.flush_once(clean) == 0


async def test_a_redis_flush_loses_only_what_was_not_flushed(
    client: httpx.AsyncClient, clean: Runtime, code: str
) -> None:
    await visit(client, code, 4)
    await counted(client, code, 4)
    await visits.flush_once(clean)
    await visit(client, code, 2)
    await counted(client, code, 6)
    await clean.redis.flushall()
    assert (await stats(client, code))["visitCount"] == 4
    await visit(client, code, 1)  # the link still redirects, and counts on
    await counted(client, code, 5)


async def test_a_batch_taken_but_not_yet_written_is_still_counted(
    client: httpx.AsyncClient, clean: Runtime, code: str
) -> None:
    """A flusher that dies after the hand-off: the batch waits in Redis, counted
    once, and the next flush (of any process) writes it."""
    await visit(client, code, 3)
    await counted(client, code, 3)
    batch = await visit_counters.take_batch(clean.redis)
    assert batch is not None and batch.totals == [(code, 3)]
    await visit(client, code, 2)  # new visits start a new pending batch
    await counted(client, code, 5)
    assert await visits.flush_once(clean) == 3  # the orphaned batch first
    assert await recorded(clean, code) == (3, 3)
    assert (await stats(client, code))["visitCount"] == 5
    assert await visits.flush_once(clean) == 2
    assert await recorded(clean, code) == (5, 5)


async def test_a_batch_written_but_not_cleared_is_not_added_twice(
    client: httpx.AsyncClient, clean: Runtime, code: str
) -> None:
    """A flusher that dies after its commit, before deleting the batch in Redis."""
    await visit(client, code, 3)
    await counted(client, code, 3)
    batch = await visit_counters.take_batch(clean.redis)
    assert batch is not None
    assert await links.apply_visit_batch(
        clean.db, batch_id=batch.batch_id, daily=batch.daily, totals=batch.totals
    )
    assert await clean.redis.exists(visit_counters.FLUSHING)
    assert (await stats(client, code))["visitCount"] == 3  # in Postgres and Redis, once
    assert await visits.flush_once(clean) == 0  # finds the batch applied, clears it
    assert not await clean.redis.exists(visit_counters.FLUSHING)
    assert await recorded(clean, code) == (3, 3)
    assert (await stats(client, code))["visitCount"] == 3


async def test_the_flusher_runs_every_interval(
    client: httpx.AsyncClient, clean: Runtime, code: str
) -> None:
    rt = dataclasses.replace(
        clean, settings=clean.settings.model_copy(update={"visit_flush_seconds": 0.05})
    )
    async with visits.running_flusher(rt):
        await visit(client, code, 3)

        async def flushed() -> bool:
            return await recorded(clean, code) == (3, 3)

        await eventually(flushed)
