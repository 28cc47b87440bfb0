"""DataLoaders for short links: each batch is one Postgres query (plus, for
visit counts, one Redis MULTI), results in key order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from chirp.persistence import links
from chirp.persistence.links import LinkRecord
from chirp.runtime import Runtime
from chirp.services import links as link_service
from chirp.services.links import DayVisits


class LinkByCodeLoader(DataLoader[str, LinkRecord | None]):
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[str]) -> list[LinkRecord | None]:
        found = {link.code: link for link in await links.links_by_codes(self._rt.db.read, keys)}
        return [found.get(key) for key in keys]


class LinksByTweetLoader(DataLoader[int, list[LinkRecord]]):
    """``Tweet.links`` for a whole page of tweets in one query, in order of appearance."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[int]) -> list[list[LinkRecord]]:
        found = await links.links_by_tweet_ids(self._rt.db.read, keys)
        return [found.get(key, []) for key in keys]


class VisitCountByLinkLoader(DataLoader[str, int]):
    """``visitCount``: recorded in Postgres plus still pending in Redis."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[str]) -> list[int]:
        counts = await link_service.visit_counts(self._rt, keys)
        return [counts[key] for key in keys]


#: (code, days) of one ``dailyVisits(days)`` field.
DailyKey = tuple[str, int]


class DailyVisitsByLinkLoader(DataLoader[DailyKey, list[DayVisits]]):
    """``dailyVisits(days)``: one query per distinct ``days`` in the batch."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[DailyKey]) -> list[list[DayVisits]]:
        groups: dict[int, list[str]] = defaultdict(list)
        for code, days in keys:
            groups[days].append(code)
        found: dict[DailyKey, list[DayVisits]] = {}
        for days, codes in groups.items():
            for code, series in (
                await link_service.daily_visits(self._rt, list(dict.fromkeys(codes)), days=days)
            ).items():
                found[code, days] = series
        return [found[key] for key in keys]
