"""Fixtures that run the same graph tests on every engine.

Ladybug gets a fresh database per test under ``tmp_path``. Neo4j uses
``CHIRP_NEO4J_URI`` / ``CHIRP_NEO4J_USER`` / ``CHIRP_NEO4J_PASSWORD`` and is
cleared before each test; without a URI its tests are skipped with the reason
shown by ``pytest -ra``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chirp.graph.drivers import GraphDriver
from chirp.graph.follows import FollowGraph
from chirp.graph.ladybug_driver import LadybugDriver

ENGINES = ["ladybug", "neo4j"]
NEO4J_SKIP_REASON = "CHIRP_NEO4J_URI not set: Neo4j tests need a server"


async def open_engine(engine: str, tmp_path: Path) -> GraphDriver:
    """A driver with its schema in place and an empty graph, or a skip."""
    if engine == "ladybug":
        driver: GraphDriver = await LadybugDriver.open(tmp_path / "graph")
    else:
        uri = os.environ.get("CHIRP_NEO4J_URI")
        if not uri:
            pytest.skip(NEO4J_SKIP_REASON)
        from chirp.graph.neo4j_driver import Neo4jDriver

        driver = Neo4jDriver.connect(
            uri,
            user=os.environ.get("CHIRP_NEO4J_USER", "neo4j"),
            password=os.environ.get("CHIRP_NEO4J_PASSWORD", "neo4j"),
        )
    try:
        await driver.setup_schema()
        if engine == "neo4j":
            await FollowGraph(driver).clear()
    except BaseException:
        await driver.close()
        raise
    driver.round_trips = 0
    return driver


@pytest.fixture(params=ENGINES)
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GraphDriver]:
    opened = await open_engine(request.param, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def graph(driver: GraphDriver) -> FollowGraph:
    return FollowGraph(driver)
