"""The graph driver seam: one small protocol, two engines behind it.

``FollowGraph`` only ever calls ``run`` with the statements in
``chirp.graph.cypher``, so swapping Neo4j (production, scale-out) for embedded
Ladybug (``chirp serve`` on a fresh machine) is a settings change, not a code
change. ``round_trips`` exists so tests can prove that batched methods and
DataLoaders really make one call per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from chirp.config import Settings

#: The Ladybug database file under ``Settings.data_dir``.
LADYBUG_DIR_NAME = "graph"


@runtime_checkable
class GraphDriver(Protocol):
    """What the follow graph needs from a Cypher engine."""

    #: Incremented once per ``run`` call (not by ping/setup/close).
    round_trips: int

    async def run(
        self, query: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement; rows as dicts keyed by the RETURN aliases."""
        ...

    async def ping(self) -> None:
        """Raise if the engine cannot be reached."""
        ...

    async def setup_schema(self) -> None:
        """Create tables / constraints; safe to call on every start."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


async def open_graph(settings: Settings) -> GraphDriver:
    """Open the engine the settings select, with its schema in place.

    ``CHIRP_NEO4J_URI`` selects Neo4j; without it the graph lives in Ladybug at
    ``data_dir / "graph"``. The engine modules are imported lazily so a
    deployment only loads the client it uses.
    """
    driver: GraphDriver
    if settings.neo4j_uri:
        from chirp.graph.neo4j_driver import Neo4jDriver

        driver = Neo4jDriver.connect(
            settings.neo4j_uri, user=settings.neo4j_user, password=settings.neo4j_password
        )
    else:
        from chirp.graph.ladybug_driver import LadybugDriver

        driver = await LadybugDriver.open(settings.data_dir / LADYBUG_DIR_NAME)
    try:
        await driver.ping()
        await driver.setup_schema()
    except BaseException:
        await driver.close()
        raise
    return driver
