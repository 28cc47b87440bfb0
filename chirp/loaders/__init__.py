"""Per-request DataLoaders, named ``<Result>By<Key>Loader``.

A new :class:`Loaders` is built for every request, so nothing is cached across
requests or users; within a request, every loader batches its keys into one
round trip, and loaders that fetch rows another loader serves prime it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable
from functools import cached_property

from strawberry.dataloader import DataLoader

from chirp.graph.follows import FollowGraph
from chirp.loaders.follows import (
    FollowCountsByUserLoader,
    FollowsViewerByUserLoader,
    ViewerFollowsByUserLoader,
)
from chirp.loaders.links import (
    DailyVisitsByLinkLoader,
    LinkByCodeLoader,
    LinksByTweetLoader,
    VisitCountByLinkLoader,
)
from chirp.loaders.tweets import (
    MentionsByTweetLoader,
    TweetByIdLoader,
    TweetPageLoader,
    ViewerFlagsByTweetLoader,
)
from chirp.loaders.users import UserByIdLoader
from chirp.runtime import Runtime


class Loaders:
    """A request's loaders, each built on first use (most requests need few)."""

    def __init__(self, rt: Runtime, *, viewer_id: Callable[[], Awaitable[int | None]]) -> None:
        self._db = rt.db
        self._graph = FollowGraph(rt.graph)
        self._viewer_id = viewer_id
        self._rt = rt

    @cached_property
    def user_by_id(self) -> UserByIdLoader:
        return UserByIdLoader(self._db)

    @cached_property
    def tweet_by_id(self) -> TweetByIdLoader:
        return TweetByIdLoader(self._db)

    @cached_property
    def viewer_flags_by_tweet(self) -> ViewerFlagsByTweetLoader:
        return ViewerFlagsByTweetLoader(self._db, self._viewer_id)

    @cached_property
    def mentions_by_tweet(self) -> MentionsByTweetLoader:
        return MentionsByTweetLoader(self._db, self.user_by_id)

    @cached_property
    def tweet_page_by_author(self) -> TweetPageLoader:
        return TweetPageLoader(self._db, by="author", tweets_by_id=self.tweet_by_id)

    @cached_property
    def reply_page_by_tweet(self) -> TweetPageLoader:
        return TweetPageLoader(self._db, by="replies", tweets_by_id=self.tweet_by_id)

    @cached_property
    def link_by_code(self) -> LinkByCodeLoader:
        return LinkByCodeLoader(self._rt)

    @cached_property
    def links_by_tweet(self) -> LinksByTweetLoader:
        return LinksByTweetLoader(self._rt)

    @cached_property
    def visit_count_by_link(self) -> VisitCountByLinkLoader:
        return VisitCountByLinkLoader(self._rt)

    @cached_property
    def daily_visits_by_link(self) -> DailyVisitsByLinkLoader:
        return DailyVisitsByLinkLoader(self._rt)

    @cached_property
    def follow_counts_by_user(self) -> FollowCountsByUserLoader:
        return FollowCountsByUserLoader(self._graph)

    @cached_property
    def viewer_follows_by_user(self) -> ViewerFollowsByUserLoader:
        return ViewerFollowsByUserLoader(self._graph, self._viewer_id)

    @cached_property
    def follows_viewer_by_user(self) -> FollowsViewerByUserLoader:
        return FollowsViewerByUserLoader(self._graph, self._viewer_id)


def forget(loader: DataLoader, *keys: Hashable) -> None:
    """Drop cached values a write made stale (a document may run several mutations)."""
    for key in keys:
        with contextlib.suppress(KeyError):  # strawberry raises for keys never loaded
            loader.clear(key)
