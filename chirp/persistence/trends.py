"""Trend scores in Redis: time-decayed hashtag uses per window, in Lua.

Keys of one window ``<w>`` (``hour`` or ``day``); the ``{trends:<w>}`` hash tag
keeps a window in one cluster slot, which the scripts need (they touch the
per-tag keys they derive from a tag):

``trends:{<w>}:meta``: hash, ``epoch`` (seconds) and ``built`` (``1`` once a
    rebuild from Postgres completed). Without it the window is *absent*:
    writes do nothing and report it, and the caller rebuilds.
``trends:{<w>}:score``: sorted set, tag -> sum over its counted uses of
    ``2^((used_at - epoch) / half_life)``. The current score is that times
    ``2^(-(now - epoch) / half_life)``: exact exponential decay with no
    periodic rewrite, and one factor for every member, so ranking and the
    noise cut are plain range queries on the stored value. When
    ``(now - epoch) / half_life`` passes ``REBASE_EXPONENT`` a write moves the
    epoch to now and rescales every member (once in a long while).
``trends:{<w>}:uses:<tag>``: sorted set of the tag's counted uses,
    ``<tweet id>:<author id>`` -> used_at: for ``tweetCount`` (uses in the last
    window length), redelivery checks and withdrawing a deleted tweet.
``trends:{<w>}:authors:<tag>``: hash, author -> tweet id of their latest
    counted use of the tag: the once-per-window-per-author rule.
``trends:{<w>}:gone``: sorted set of deleted tweet ids -> used_at, so an add
    handled after its delete (events of several workers, redeliveries)
    counts nothing.
``trends:{<w>}:lock``: single-flight lock of a rebuild.

Every record older than the window's horizon (the age at which one use is
noise) is dropped; tags whose score fell below noise are dropped whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from chirp.persistence.lua import Script, run_batch

#: Rebase once the stored values reach 2^32 times a fresh use: far inside a
#: double's range (2^1023) and precision (a withdrawal's rounding error stays
#: ~2^-53 of the score), and rare: every 32 half-lives (32 h for HOUR).
REBASE_EXPONENT: Final = 32
#: Tags dropped per write at most, so one script never stalls Redis long; the
#: rest go with the next writes.
PRUNE_BATCH: Final = 200
#: Uses per pipeline when replaying a rebuild: ~100 KB per round trip.
REPLAY_PIPELINE: Final = 500

_SCRIPTS: list[Script] = []


def channel_name(window: str) -> str:
    """Pub/sub channel on which a window announces that its scores changed."""
    return f"chirp:trends:{window}"


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One trends window as the scripts see it (seconds)."""

    name: str
    half_life: float
    #: "Per window" means this long: one use per author per tag per length,
    #: and ``tweetCount`` counts the uses of the last length.
    length: float
    #: Records older than this are noise and dropped.
    horizon: float
    #: A tag below this score (in fresh uses) is dropped.
    noise: float

    @property
    def prefix(self) -> str:
        return f"trends:{{{self.name}}}:"

    @property
    def channel(self) -> str:
        return channel_name(self.name)

    def keys(self) -> list[str]:
        return [self.prefix + "meta", self.prefix + "score", self.prefix + "gone"]

    def args(self, now: float) -> list[object]:
        numbers = (now, self.half_life, self.length, self.horizon, self.noise)
        return [self.prefix, *(repr(n) for n in numbers), self.channel]


@dataclass(frozen=True, slots=True)
class Use:
    """A tweet's hashtags, used by its author at ``used_at`` (seconds)."""

    tweet_id: int
    author_id: int
    used_at: float
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrendRow:
    tag: str
    score: float
    tweet_count: int


#: Absent: no state (never built or lost), rebuild. Building: a rebuild runs.
WindowState = Literal["absent", "building", "live"]


@dataclass(frozen=True, slots=True)
class TopRead:
    state: WindowState
    rows: tuple[TrendRow, ...]


_LIB = """
local function fmt(x) return string.format('%.17g', x) end
local prefix, now, h, W = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local H, noise, channel = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local function drop_tag(tag)
  redis.call('ZREM', KEYS[2], tag)
  redis.call('DEL', prefix .. 'uses:' .. tag, prefix .. 'authors:' .. tag)
end
local function rebase(epoch)
  if (now - epoch) / h <= REBASE_EXPONENT then return epoch end
  local factor = 2 ^ ((epoch - now) / h)
  local members = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    redis.call('ZADD', KEYS[2], fmt(tonumber(members[i + 1]) * factor), members[i])
  end
  redis.call('HSET', KEYS[1], 'epoch', fmt(now))
  return now
end
local function prune(epoch)
  local floor = noise * 2 ^ ((now - epoch) / h)
  local tags = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. fmt(floor),
                          'LIMIT', 0, PRUNE_BATCH)
  for _, tag in ipairs(tags) do drop_tag(tag) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. fmt(now - H))
end
local function prune_uses(tag)
  local uses, authors = prefix .. 'uses:' .. tag, prefix .. 'authors:' .. tag
  local old = redis.call('ZRANGEBYSCORE', uses, '-inf', '(' .. fmt(now - H))
  for _, m in ipairs(old) do
    local tid, author = string.match(m, '^(%d+):(%d+)$')
    if redis.call('HGET', authors, author) == tid then redis.call('HDEL', authors, author) end
    redis.call('ZREM', uses, m)
  end
end
local function weight(epoch, used_at) return 2 ^ ((used_at - epoch) / h) end
"""
_LIB = _LIB.replace("REBASE_EXPONENT", str(REBASE_EXPONENT)).replace(
    "PRUNE_BATCH", str(PRUNE_BATCH)
)

#: KEYS: meta, score, gone. ARGV: window args, tweet id, author, used_at, tags...
#: Counts each tag's use unless it is noise already, the tweet was deleted,
#: it was counted before (redelivery), or the author has a counted use of the
#: tag less than a window length before or after it. Returns how many counted.
_ADD = Script(
    _LIB
    + """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return -1 end
epoch = rebase(tonumber(epoch))
local tid, author, used_at = ARGV[8], ARGV[9], tonumber(ARGV[10])
local counted = 0
if used_at >= now - H and not redis.call('ZSCORE', KEYS[3], tid) then
  local member = tid .. ':' .. author
  for i = 11, #ARGV do
    local tag = ARGV[i]
    local uses, authors = prefix .. 'uses:' .. tag, prefix .. 'authors:' .. tag
    prune_uses(tag)
    if not redis.call('ZSCORE', uses, member) then
      local last = redis.call('HGET', authors, author)
      local last_at = last and tonumber(redis.call('ZSCORE', uses, last .. ':' .. author))
      if not last_at or math.abs(used_at - last_at) >= W then
        redis.call('ZINCRBY', KEYS[2], fmt(weight(epoch, used_at)), tag)
        redis.call('ZADD', uses, fmt(used_at), member)
        if not last_at or used_at > last_at then redis.call('HSET', authors, author, tid) end
        counted = counted + 1
      end
    end
  end
end
prune(epoch)
if counted > 0 then redis.call('PUBLISH', channel, 'changed') end
return counted
""",
    registry=_SCRIPTS,
)

#: KEYS and ARGV as for _ADD. Marks the tweet deleted and withdraws each of
#: its counted uses. Returns how many were withdrawn.
_REMOVE = Script(
    _LIB
    + """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return -1 end
epoch = rebase(tonumber(epoch))
local tid, author, used_at = ARGV[8], ARGV[9], tonumber(ARGV[10])
redis.call('ZADD', KEYS[3], fmt(used_at), tid)
local member = tid .. ':' .. author
local withdrawn = 0
for i = 11, #ARGV do
  local tag = ARGV[i]
  if redis.call('ZREM', prefix .. 'uses:' .. tag, member) == 1 then
    redis.call('ZINCRBY', KEYS[2], fmt(-weight(epoch, used_at)), tag)
    local authors = prefix .. 'authors:' .. tag
    if redis.call('HGET', authors, author) == tid then redis.call('HDEL', authors, author) end
    withdrawn = withdrawn + 1
  end
end
prune(epoch)
if withdrawn > 0 then redis.call('PUBLISH', channel, 'changed') end
return withdrawn
""",
    registry=_SCRIPTS,
)

#: KEYS: meta, score, gone. ARGV: window args, first. The top ``first`` tags
#: above noise with their stored values and uses in the last window length.
_TOP = Script(
    _LIB
    + """
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'built')
if not meta[1] then return {'absent'} end
local floor = noise * 2 ^ ((now - tonumber(meta[1])) / h)
local out = {meta[2] == '1' and 'live' or 'building', meta[1]}
local rows = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', fmt(floor),
                        'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[8]))
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('ZCOUNT', prefix .. 'uses:' .. rows[i], '(' .. fmt(now - W), '+inf')
end
return out
""",
    registry=_SCRIPTS,
)

#: KEYS: meta, score, gone. ARGV: window args. Starts a rebuild unless the
#: window exists (then a rebuild left unfinished just runs again: replays are
#: idempotent). Leftovers of a window whose meta was lost are cleared.
_BEGIN = Script(
    _LIB
    + """
if redis.call('HEXISTS', KEYS[1], 'epoch') == 1 then return 0 end
for _, tag in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do drop_tag(tag) end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'epoch', fmt(now), 'built', '0')
return 1
""",
    registry=_SCRIPTS,
)

#: KEYS: meta. Marks a rebuild complete, unless the window was lost meanwhile.
_FINISH = Script(
    """
if redis.call('HEXISTS', KEYS[1], 'epoch') == 0 then return 0 end
return redis.call('HSET', KEYS[1], 'built', '1')
""",
    registry=_SCRIPTS,
)

#: KEYS: lock. ARGV: token. Releases the lock if this token still holds it.
_UNLOCK = Script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""",
    registry=_SCRIPTS,
)


def _queue_uses(
    pipe: Pipeline, script: Script, spec: WindowSpec, uses: Sequence[Use], now: float
) -> None:
    head = spec.args(now)
    for use in uses:
        args = [*head, use.tweet_id, use.author_id, repr(use.used_at), *use.tags]
        script.queue(pipe, keys=spec.keys(), args=args)


async def _apply(
    redis: Redis, script: Script, specs: Sequence[WindowSpec], uses: Sequence[Use], now: float
) -> dict[str, int | None]:
    """Run ``script`` for every use in every window, pipelined in pieces; per
    window the uses counted (or withdrawn), or None when the window is absent."""
    totals: dict[str, int | None] = {spec.name: 0 for spec in specs}
    uses = [use for use in uses if use.tags]
    for start in range(0, len(uses), REPLAY_PIPELINE):
        part = uses[start : start + REPLAY_PIPELINE]

        def queue(pipe: Pipeline, part: Sequence[Use] = part) -> None:
            for spec in specs:
                _queue_uses(pipe, script, spec, part, now)

        replies = await run_batch(redis, queue, _SCRIPTS)
        for n, spec in enumerate(specs):
            for reply in replies[n * len(part) : (n + 1) * len(part)]:
                total = totals[spec.name]
                totals[spec.name] = None if reply < 0 or total is None else total + reply
    return totals


#: add_uses and remove_uses share this shape.
Apply = Callable[..., Awaitable[dict[str, "int | None"]]]


async def add_uses(
    redis: Redis, *, specs: Sequence[WindowSpec], uses: Sequence[Use], now: float
) -> dict[str, int | None]:
    """Count uses (idempotent); per window how many counted, None if absent."""
    return await _apply(redis, _ADD, specs, uses, now)


async def remove_uses(
    redis: Redis, *, specs: Sequence[WindowSpec], uses: Sequence[Use], now: float
) -> dict[str, int | None]:
    """Withdraw deleted tweets' uses (idempotent); None per absent window."""
    return await _apply(redis, _REMOVE, specs, uses, now)


async def top(redis: Redis, *, spec: WindowSpec, now: float, first: int) -> TopRead:
    """The ``first`` highest-scoring tags above noise, in one round trip."""
    reply = await _TOP(redis, keys=spec.keys(), args=[*spec.args(now), first])
    if reply[0] == "absent":
        return TopRead(state="absent", rows=())
    decay = 2 ** (-(now - float(reply[1])) / spec.half_life)
    rows = [
        TrendRow(tag=reply[i], score=float(reply[i + 1]) * decay, tweet_count=int(reply[i + 2]))
        for i in range(2, len(reply), 3)
    ]
    rows.sort(key=lambda row: (-row.score, row.tag))
    return TopRead(state=reply[0], rows=tuple(rows))


async def begin_rebuild(redis: Redis, *, spec: WindowSpec, now: float) -> bool:
    """Create the window (epoch now, not built); False if it exists."""
    return bool(await _BEGIN(redis, keys=spec.keys(), args=spec.args(now)))


async def finish_rebuild(redis: Redis, *, spec: WindowSpec) -> bool:
    return bool(await _FINISH(redis, keys=spec.keys()[:1], args=[]))


async def exists(redis: Redis, *, spec: WindowSpec) -> bool:
    return bool(await redis.hexists(spec.prefix + "meta", "epoch"))


async def try_lock(redis: Redis, *, spec: WindowSpec, token: str, ttl_ms: int) -> bool:
    return bool(await redis.set(spec.prefix + "lock", token, nx=True, px=ttl_ms))


async def unlock(redis: Redis, *, spec: WindowSpec, token: str) -> None:
    await _UNLOCK(redis, keys=[spec.prefix + "lock"], args=[token])
