"""Per-request DataLoaders, named ``<Result>By<Key>Loader``.

A new :class:`Loaders` is built for every request, so nothing is cached across
requests or users; within a request, every loader batches its keys into one
round trip, and loaders that fetch rows another loader serves prime it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from chirp.graph.follows import FollowGraph
from chirp.loaders.follows import (
    FollowCountsByUserLoader,
    FollowsViewerByUserLoader,
    ViewerFollowsByUserLoader,
)
from chirp.loaders.tweets import (
    MentionsByTweetLoader,
    TweetByIdLoader,
    TweetPageLoader,
    ViewerFlagsByTweetLoader,
)
from chirp.loaders.users import UserByIdLoader
from chirp.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Loaders:
    user_by_id: UserByIdLoader
    tweet_by_id: TweetByIdLoader
    viewer_flags_by_tweet: ViewerFlagsByTweetLoader
    mentions_by_tweet: MentionsByTweetLoader
    tweet_page_by_author: TweetPageLoader
    reply_page_by_tweet: TweetPageLoader
    follow_counts_by_user: FollowCountsByUserLoader
    viewer_follows_by_user: ViewerFollowsByUserLoader
    follows_viewer_by_user: FollowsViewerByUserLoader

    @classmethod
    def create(cls, rt: Runtime, *, viewer_id: Callable[[], Awaitable[int | None]]) -> Loaders:
        db = rt.db
        graph = FollowGraph(rt.graph)
        user_by_id = UserByIdLoader(db)
        tweet_by_id = TweetByIdLoader(db)
        return cls(
            user_by_id=user_by_id,
            tweet_by_id=tweet_by_id,
            viewer_flags_by_tweet=ViewerFlagsByTweetLoader(db, viewer_id),
            mentions_by_tweet=MentionsByTweetLoader(db, user_by_id),
            tweet_page_by_author=TweetPageLoader(db, by="author", tweets_by_id=tweet_by_id),
            reply_page_by_tweet=TweetPageLoader(db, by="replies", tweets_by_id=tweet_by_id),
            follow_counts_by_user=FollowCountsByUserLoader(graph),
            viewer_follows_by_user=ViewerFollowsByUserLoader(graph, viewer_id),
            follows_viewer_by_user=FollowsViewerByUserLoader(graph, viewer_id),
        )


def forget(loader: DataLoader, *keys: Hashable) -> None:
    """Drop cached values a write made stale (a document may run several mutations)."""
    for key in keys:
        with contextlib.suppress(KeyError):  # strawberry raises for keys never loaded
            loader.clear(key)
