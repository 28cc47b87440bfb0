"""DataLoaders over the follow graph: one Cypher call per batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from strawberry.dataloader import DataLoader

from chirp.graph.follows import FollowCounts, FollowGraph


class FollowCountsByUserLoader(DataLoader[int, FollowCounts]):
    def __init__(self, graph: FollowGraph) -> None:
        self._graph = graph
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[int]) -> list[FollowCounts]:
        counts = await self._graph.counts(user_ids=keys)
        return [counts[key] for key in keys]


class _ViewerRelationLoader(DataLoader[int, bool]):
    """A yes/no relation between the viewer and each user; False without a viewer."""

    def __init__(self, graph: FollowGraph, viewer_id: Callable[[], Awaitable[int | None]]) -> None:
        self._graph = graph
        self._viewer_id = viewer_id
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[int]) -> list[bool]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return [False] * len(keys)
        related = await self._related(viewer_id, [key for key in keys if key != viewer_id])
        return [key in related for key in keys]

    async def _related(self, viewer_id: int, user_ids: list[int]) -> set[int]:
        raise NotImplementedError


class ViewerFollowsByUserLoader(_ViewerRelationLoader):
    async def _related(self, viewer_id: int, user_ids: list[int]) -> set[int]:
        return await self._graph.follows_pairs(follower_id=viewer_id, followee_ids=user_ids)


class FollowsViewerByUserLoader(_ViewerRelationLoader):
    async def _related(self, viewer_id: int, user_ids: list[int]) -> set[int]:
        return await self._graph.followed_by(user_id=viewer_id, follower_ids=user_ids)
