"""The driver seam: routing, row shape, engine selection, Ladybug's quirks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chirp.config import Settings
from chirp.graph import cypher
from chirp.graph.drivers import LADYBUG_DIR_NAME, GraphDriver, open_graph
from chirp.graph.follows import FollowGraph
from chirp.graph.ladybug_driver import INLINE_CONVERT_MAX_ROWS, LadybugDriver

WRITES = {"FOLLOW", "UNFOLLOW", "ENSURE_USERS", "BULK_FOLLOW", "CLEAR"}


def test_statements_are_routed_by_what_they_do() -> None:
    statements = {
        name: value
        for name, value in vars(cypher).items()
        if name.isupper() and isinstance(value, str)
    }
    assert WRITES <= statements.keys()
    for name, query in statements.items():
        assert cypher.is_write(query) == (name in WRITES), name
    for schema in (*cypher.LADYBUG_SCHEMA, *cypher.NEO4J_SCHEMA):
        assert cypher.is_write(schema)


async def test_run_returns_rows_keyed_by_alias(driver: GraphDriver) -> None:
    rows = await driver.run("UNWIND $xs AS x RETURN x AS value, x * 2 AS doubled", {"xs": [1, 2]})
    assert rows == [{"value": 1, "doubled": 2}, {"value": 2, "doubled": 4}]
    assert await driver.run("UNWIND $xs AS x RETURN x AS value", {"xs": []}) == []
    assert driver.round_trips == 2
    await driver.ping()
    assert driver.round_trips == 2  # ping is not a round trip of the API


async def test_large_results_are_complete(driver: GraphDriver) -> None:
    graph = FollowGraph(driver)
    # Off-loop conversion on Ladybug; also one new node with many new edges in
    # one chunk, the case Ladybug drops when nodes and edges share a statement.
    count = INLINE_CONVERT_MAX_ROWS * 2 + 1
    await graph.bulk_follow(edges=[(1, 1_000 + i, i) for i in range(count)])
    assert await graph.following_ids(user_id=1) == [1_000 + i for i in range(count)]


async def test_open_graph_keeps_ladybug_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", neo4j_uri=None)
    driver = await open_graph(settings)
    assert isinstance(driver, LadybugDriver)
    await FollowGraph(driver).follow(follower_id=1, followee_id=2, since_ms=5)
    await driver.close()
    await driver.close()  # closing twice is harmless
    assert (tmp_path / "data" / LADYBUG_DIR_NAME).exists()

    reopened = await open_graph(settings)  # schema setup is idempotent
    try:
        assert await FollowGraph(reopened).follower_ids_page(user_id=2) == [1]
    finally:
        await reopened.close()


async def test_ladybug_queues_concurrent_writes(tmp_path: Path) -> None:
    # Ladybug fails a second concurrent write transaction instead of waiting;
    # the driver must queue writes while reads keep running.
    driver = await LadybugDriver.open(tmp_path / "graph")
    await driver.setup_schema()
    graph = FollowGraph(driver)
    try:
        writes = [graph.follow(follower_id=i, followee_id=i + 1_000, since_ms=i) for i in range(40)]
        reads = [graph.counts(user_ids=[i, i + 1_000]) for i in range(40)]
        results = await asyncio.gather(*writes, *reads)
        assert all(results[:40])
        assert sorted(await graph.most_followed(first=100)) == [i + 1_000 for i in range(40)]
    finally:
        await driver.close()


async def test_ladybug_run_after_close_fails(tmp_path: Path) -> None:
    driver = await LadybugDriver.open(tmp_path / "graph")
    await driver.close()
    with pytest.raises(RuntimeError):
        await driver.ping()
