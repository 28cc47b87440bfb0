"""DataLoaders for tweets: rows, viewer flags, mentions and per-key pages.

Each batch is one Postgres query. Loaders that already fetched user rows
prime ``UserByIdLoader`` so authors and mentions cost nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from strawberry.dataloader import DataLoader

from chirp.loaders.users import UserByIdLoader
from chirp.persistence import tweets
from chirp.persistence.postgres import Database
from chirp.persistence.tweets import TweetRecord
from chirp.persistence.users import UserRecord


class TweetByIdLoader(DataLoader[int, TweetRecord | None]):
    def __init__(self, db: Database) -> None:
        self._db = db
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[int]) -> list[TweetRecord | None]:
        found = {tweet.id: tweet for tweet in await tweets.tweets_by_ids(self._db.read, keys)}
        return [found.get(key) for key in keys]

    def prime_records(self, records: Sequence[TweetRecord]) -> None:
        self.prime_many({record.id: record for record in records}, force=True)


class ViewerFlagsByTweetLoader(DataLoader[int, tuple[bool, bool]]):
    """(liked, retweeted) by the viewer; built only when there is a viewer."""

    def __init__(self, db: Database, viewer_id: Callable[[], Awaitable[int | None]]) -> None:
        self._db = db
        self._viewer_id = viewer_id
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[int]) -> list[tuple[bool, bool]]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return [(False, False)] * len(keys)
        flags = await tweets.viewer_flags(self._db, viewer_id=viewer_id, tweet_ids=keys)
        return [flags.get(key, (False, False)) for key in keys]


class MentionsByTweetLoader(DataLoader[int, list[UserRecord]]):
    def __init__(self, db: Database, users: UserByIdLoader) -> None:
        self._db = db
        self._users = users
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[int]) -> list[list[UserRecord]]:
        mentions = await tweets.mentions_by_tweet_ids(self._db.read, keys)
        for users in mentions.values():
            for user in users:
                self._users.prime_record(user)
        return [mentions.get(key, []) for key in keys]


#: (key, before_id, limit): one page of the list ``by`` names, for one key.
PageKey = tuple[int, int | None, int]


class TweetPageLoader(DataLoader[PageKey, list[TweetRecord]]):
    """Pages of tweets per author or per parent, for many keys in one query.

    Keys that share a position and size (the usual case: one field over a
    list) go in one query; fetched rows prime ``TweetByIdLoader``.
    """

    def __init__(self, db: Database, *, by: str, tweets_by_id: TweetByIdLoader) -> None:
        self._db = db
        self._by = by
        self._tweets_by_id = tweets_by_id
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[PageKey]) -> list[list[TweetRecord]]:
        groups: dict[tuple[int | None, int], list[int]] = defaultdict(list)
        for key, before_id, limit in keys:
            groups[before_id, limit].append(key)
        pages: dict[PageKey, list[TweetRecord]] = {}
        for (before_id, limit), group in groups.items():
            found = await tweets.tweet_pages(
                self._db.read, by=self._by, keys=group, before_id=before_id, limit=limit
            )
            for key, rows in found.items():
                pages[key, before_id, limit] = rows
                self._tweets_by_id.prime_records(rows)
        return [pages[key] for key in keys]
