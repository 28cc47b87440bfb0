"""Resolving short-link codes for redirects, and counting the visits.

Lookup path, cheapest first: an in-process LRU (no I/O), then Redis (shared
by every app process), then Postgres (the read replica when configured).
Every answer is cached in the tiers above it, including "not found", so a
scan that repeats unknown codes reaches Postgres once per code per
``link_cache.NOT_FOUND_TTL_SECONDS``, not per request.

Visits of uncapped links are counted in memory and pushed to Redis every
``VISIT_PUSH_SECONDS`` by one task (one MULTI per push, whatever the traffic),
so the redirect itself does no I/O when the link is in the LRU; the flusher
(``chirp.workers.visits``) moves them to Postgres. Capped links take one
conditional update on the primary per visit instead, which is what makes
``maxVisits`` exact under concurrency and durable at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta

import prometheus_client
from redis.exceptions import RedisError

from chirp.persistence import link_cache, links, visit_counters
from chirp.persistence.link_cache import GONE, NOT_FOUND, Entry, Missing
from chirp.runtime import Runtime
from chirp.services.links import cache_entry

log = logging.getLogger(__name__)

#: Entries in the in-process LRU. A few hundred bytes each (code, URL, tuple),
#: so 100,000 stay around 30 MB per process while holding far more than the
#: hot set of links (TinyURL's plan: 20% of links take 80% of the traffic).
LOCAL_CACHE_SIZE = 100_000
#: How long this process trusts its copy of a link. Links never change, so
#: this only bounds memory churn and how long a process keeps a link after
#: Redis and Postgres were told otherwise (expiry is checked on every use).
LOCAL_TTL_SECONDS = 60.0
#: "Not found" is kept only briefly here: a new alias replaces the Redis
#: entry at once, and other processes see it within this.
LOCAL_NOT_FOUND_TTL_SECONDS = 2.0
#: Visit counts go from memory to Redis this often; a crashed process loses
#: at most this much of its uncapped visits (a clean stop pushes them first).
VISIT_PUSH_SECONDS = 0.25
#: Distinct (code, day) counters kept in memory while Redis is unreachable;
#: past this, new ones are dropped (and logged) rather than growing forever.
MAX_BUFFERED_COUNTERS = 100_000

_EPOCH = date(1970, 1, 1)
_SECONDS_PER_DAY = 86_400


class LocalCache:
    """A small LRU whose entries each carry their own deadline.

    Written here rather than taken from a library because it needs per-entry
    TTLs (links, "not found" and "gone" live for different times) and is a
    dozen lines over ``OrderedDict``, whose C implementation keeps a hit at
    well under a microsecond.
    """

    def __init__(self, size: int = LOCAL_CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[float, Entry]] = OrderedDict()

    def get(self, code: str, now: float) -> Entry | None:
        found = self._entries.get(code)
        if found is None:
            return None
        if found[0] <= now:
            del self._entries[code]
            return None
        self._entries.move_to_end(code)
        return found[1]

    def put(self, code: str, entry: Entry, now: float) -> None:
        ttl = LOCAL_NOT_FOUND_TTL_SECONDS if entry is NOT_FOUND else LOCAL_TTL_SECONDS
        self._entries[code] = (now + ttl, entry)
        self._entries.move_to_end(code)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, code: str) -> None:
        self._entries.pop(code, None)


TIERS = ("local", "shared", "redis", "postgres")


class LookupStats:
    """Where lookups were answered: this process's LRU, another request's lookup
    of the same code that was in flight (``shared``), Redis, or Postgres. The
    cache hit rate is everything but ``postgres`` over all.

    One ``chirp_link_lookups_total{tier=...}`` counter in ``registry``; each
    tier's child is looked up once here, not per request, and every tier is
    exposed from the start (at 0) so a scrape sees all four before any traffic.
    """

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        lookups = prometheus_client.Counter(
            "chirp_link_lookups",
            "Short-link lookups by the tier that answered.",
            ["tier"],
            registry=registry,
        )
        self.local, self.shared, self.redis, self.postgres = (
            lookups.labels(tier) for tier in TIERS
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int  # 302, 404 or 410
    target_url: str | None = None


_MISSING = {404: Outcome(404), 410: Outcome(410)}


class Redirects:
    """One app process's redirect state: the LRU, the visit buffer, the stats."""

    def __init__(self) -> None:
        self.cache = LocalCache()
        #: What ``/metrics`` serves. Per instance, not prometheus-client's global
        #: default registry: each app (and each test's app) counts its own
        #: lookups, as each server process does.
        self.metrics = prometheus_client.CollectorRegistry()
        self.stats = LookupStats(self.metrics)
        self._visits: Counter[tuple[str, int]] = Counter()
        #: Lookups under way, so concurrent misses of one code (a cold start,
        #: a link going viral) cost one Redis or Postgres query, not one each.
        self._inflight: dict[str, asyncio.Future[Entry | None]] = {}

    def visit_cached(self, code: str, *, count: bool = True) -> Outcome | None:
        """The answer without any I/O when this process holds it (an uncapped
        link, or a cached 404/410); None when ``visit`` must be awaited. Most
        redirects end here, so it avoids even the coroutine calls."""
        now = time.time()
        entry = self.cache.get(code, now)
        if entry is None:
            return None
        if isinstance(entry, Missing):
            self.stats.local.inc()
            return _MISSING[entry.status]
        if entry.capped or (entry.expires_at is not None and entry.expires_at <= now):
            return None
        self.stats.local.inc()
        if count:
            self._visits[code, int(now) // _SECONDS_PER_DAY] += 1
        return Outcome(302, entry.target_url)

    async def visit(self, rt: Runtime, code: str, *, count: bool = True) -> Outcome:
        """Where ``code`` leads now; ``count=False`` (HEAD) looks without visiting."""
        entry = await self._resolve(rt, code)
        if isinstance(entry, Missing):
            return _MISSING[entry.status]
        now = time.time()
        if entry.expires_at is not None and entry.expires_at <= now:
            await self._remember(rt, code, GONE)
            return _MISSING[410]
        if not entry.capped:
            if count:
                self._visits[code, int(now) // _SECONDS_PER_DAY] += 1
            return Outcome(302, entry.target_url)
        if count:
            target = await links.take_capped_visit(rt.db, code=code)
        else:
            target = await links.capped_visit_left(rt.db, code=code)
        if target is None:  # used up (or expired by the database's clock)
            await self._remember(rt, code, GONE)
            return _MISSING[410]
        return Outcome(302, target)

    def forget(self, code: str) -> None:
        """Drop this process's copy (a new alias replaces a cached "not found")."""
        self.cache.forget(code)

    async def _resolve(self, rt: Runtime, code: str) -> Entry:
        now = time.time()
        entry = self.cache.get(code, now)
        if entry is not None:
            self.stats.local.inc()
            return entry
        pending = self._inflight.get(code)
        if pending is not None:
            shared = await asyncio.shield(pending)
            if shared is not None:  # None: that lookup failed; try our own
                self.stats.shared.inc()
                return shared
        return await self._lookup(rt, code, now)

    async def _lookup(self, rt: Runtime, code: str, now: float) -> Entry:
        """Redis, then Postgres; the answer is cached in the tiers above."""
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self._inflight.setdefault(code, future)
        entry: Entry | None = None
        try:
            entry = await self._from_redis(rt, code)
            if entry is not None:
                self.stats.redis.inc()
            else:
                self.stats.postgres.inc()
                entry = await self._from_postgres(rt, code)
                await self._to_redis(rt, code, entry)
            self.cache.put(code, entry, now)
            return entry
        finally:
            if self._inflight.get(code) is future:
                del self._inflight[code]
            future.set_result(entry)

    async def _from_postgres(self, rt: Runtime, code: str) -> Entry:
        link = await links.link_by_code(rt.db.read, code)
        settings = rt.settings
        if link is None and settings.database_read_url not in (None, settings.database_url):
            # A replica may lag behind a link created a moment ago; ask the
            # primary before caching "not found" for it.
            link = await links.link_by_code(rt.db, code)
        if link is None:
            return NOT_FOUND
        if link.max_visits is not None and link.visit_count >= link.max_visits:
            return GONE
        return cache_entry(link)

    async def _remember(self, rt: Runtime, code: str, entry: Entry) -> None:
        self.cache.put(code, entry, time.time())
        await self._to_redis(rt, code, entry)

    @staticmethod
    async def _from_redis(rt: Runtime, code: str) -> Entry | None:
        try:
            return await link_cache.get(rt.redis, code)
        except RedisError as exc:  # Redis is a cache here: fall through to Postgres
            log.warning("link cache read failed: %r", exc)
            return None

    @staticmethod
    async def _to_redis(rt: Runtime, code: str, entry: Entry) -> None:
        try:
            await link_cache.put(rt.redis, code, entry)
        except RedisError as exc:
            log.warning("link cache write failed: %r", exc)

    async def push_visits(self, rt: Runtime) -> None:
        """Move the counted visits to Redis; keep them for the next push if it fails."""
        if not self._visits:
            return
        counted, self._visits = self._visits, Counter()
        by_day = {(code, _EPOCH + timedelta(days=day)): n for (code, day), n in counted.items()}
        try:
            await visit_counters.add_visits(rt.redis, by_day)
        except RedisError as exc:
            log.warning("could not push %d visit counters to Redis: %r", len(counted), exc)
            for key, n in counted.items():
                if key in self._visits or len(self._visits) < MAX_BUFFERED_COUNTERS:
                    self._visits[key] += n

    @contextlib.asynccontextmanager
    async def running(self, rt: Runtime) -> AsyncIterator[None]:
        """Push visits every ``VISIT_PUSH_SECONDS`` while the block runs, and once
        more at the end so a clean stop loses none."""
        stop = asyncio.Event()

        async def pusher() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), VISIT_PUSH_SECONDS)
                try:
                    await self.push_visits(rt)
                except Exception:  # a bug must not stop counting for good
                    log.exception("visit push failed")

        task = asyncio.create_task(pusher(), name="visit-pusher")
        try:
            yield
        finally:
            stop.set()
            await task
