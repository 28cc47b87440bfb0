"""Follow graph: Cypher statements, Neo4j and Ladybug drivers, the domain API.

``open_graph(settings)`` picks the engine; ``FollowGraph(driver)`` is what
services and DataLoaders use.
"""

from chirp.graph.drivers import GraphDriver, open_graph
from chirp.graph.follows import FollowCounts, FollowEdge, FollowGraph, Suggestion

__all__ = [
    "FollowCounts",
    "FollowEdge",
    "FollowGraph",
    "GraphDriver",
    "Suggestion",
    "open_graph",
]
