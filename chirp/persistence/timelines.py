"""Home timelines in Redis: one sorted set of feed entries per active user.

``feed:{<uid>}``: the timeline. Members are ``<tweet id>:<author id>`` with
    the id zero-padded to 19 digits, all scored 0: lex order is id order and
    lex ranges are exact (double scores cannot hold ids past 2**53; ids of one
    millisecond would tie and cursors skip some). The author lets an unfollow
    remove all of the followee's entries, deleted tweets included. Markers
    sort below ids: ``$<floor>`` whenever the key exists, even empty (the
    sentinel); the timeline holds every feed entry above ``floor``, which
    trimming raises, and the feed ends there. ``!<token>``: a rebuild runs;
    pushes and removals apply already (none is lost), readers wait.
    ``#<epoch>``: the epoch it was built in; one older than the epoch in
    ``{chirp:events}:currency`` is stale (Redis lost events since: rebuilt on
    read like an absent timeline; see currency.py).
``feed:{<uid>}:lock``: the rebuild's single-flight lock (``SET NX PX``).
``feed:{<uid>}:gone``: what was removed during a rebuild (entries; ``@<author>``
    for unfollows), which the rebuild's older snapshot must not restore.
``feed:celebrities``: hash of authors left out of some timeline for having too
    many followers (value: a generation); readers merge their tweets in, and
    a mark goes once their tweets are back in their followers' timelines. No
    TTL: use ``noeviction`` or a ``volatile-*`` policy so Redis never evicts
    it alone. The ``{uid}`` hash tag keeps a user's keys in one cluster slot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from chirp.persistence import currency
from chirp.persistence.lua import Script, run_batch

#: Ids are below 2**63, which has 19 decimal digits.
ID_DIGITS: Final = 19
#: Members per ZADD/ZREM/SADD in a script (Lua's ``unpack`` takes ~8,000 at most).
SCRIPT_CHUNK: Final = 500
#: Members per pipeline (timelines x entries), ~1 MB: big fan-outs go in pieces.
PIPELINE_MEMBERS: Final = 50_000

CELEBRITIES_KEY: Final = "feed:celebrities"
_FLOOR: Final = "$"
_BUILDING: Final = "!"
_EPOCH: Final = "#"

#: A feed entry: (tweet id, author id).
Entry = tuple[int, int]


def timeline_key(user_id: int) -> str:
    return f"feed:{{{user_id}}}"


def _keys(user_id: int) -> list[str]:
    """The timeline and its gone set, which the scripts take together."""
    return [timeline_key(user_id), f"feed:{{{user_id}}}:gone"]


def _lock_key(user_id: int) -> str:
    return f"feed:{{{user_id}}}:lock"


def _padded(tweet_id: int) -> str:
    return f"{tweet_id:0{ID_DIGITS}d}"


def member(tweet_id: int, author_id: int) -> str:
    """A feed entry as a timeline member; the fixed-width id orders it."""
    return f"{_padded(tweet_id)}:{author_id}"


#: Every script, to load them all at once when Redis lost them.
_SCRIPTS: list[Script] = []


def _script(body: str, *, lib: bool = True) -> Script:
    return Script((_LIB if lib else "") + body, registry=_SCRIPTS)


async def _batch(redis: Redis, queue: Callable[[Pipeline], None]) -> list[Any]:
    """Run a pipeline of this module's scripts (every batch here is idempotent)."""
    return await run_batch(redis, queue, _SCRIPTS)


# Lua shared by the scripts. ``markers`` reads the three lowest members, where
# the markers sort ('!' < '#' < '$' < digits); a timeline without an epoch
# marker (built before epochs were kept) is of the first epoch. The range
# '(' .. id .. ';' ends just past every member of that id (';' follows ':').
# Ids are compared as fixed-width strings by Redis, never in Lua, whose
# numbers are doubles.
_LIB = """
local CHUNK, DIGITS = SCRIPT_CHUNK, ID_DIGITS
local function markers(key)
  local floor, building, epoch = nil, nil, nil
  for _, m in ipairs(redis.call('ZRANGE', key, 0, 2)) do
    local c = string.sub(m, 1, 1)
    if c == '$' then floor = m elseif c == '!' then building = m
    elseif c == '#' then epoch = m end
  end
  return floor, building, epoch or '#FIRST_EPOCH'
end
local function each_chunk(list, fn)
  for i = 1, #list, CHUNK do
    local part = {}
    for j = i, math.min(i + CHUNK - 1, #list) do part[#part + 1] = list[j] end
    fn(part)
  end
end
local function add(key, members)
  each_chunk(members, function(part)
    local args = {}
    for _, m in ipairs(part) do args[#args + 1] = 0; args[#args + 1] = m end
    redis.call('ZADD', key, unpack(args))
  end)
end
local function trim(key, floor, max)
  redis.call('ZREMRANGEBYLEX', key, '[0', '(' .. string.sub(floor, 2) .. ';')
  local excess = redis.call('ZLEXCOUNT', key, '[0', '+') - max
  if excess > 0 then
    local last = redis.call('ZRANGEBYLEX', key, '[0', '+', 'LIMIT', excess - 1, 1)[1]
    last = string.sub(last, 1, DIGITS)
    redis.call('ZREMRANGEBYLEX', key, '[0', '(' .. last .. ';')
    redis.call('ZREM', key, floor)
    redis.call('ZADD', key, 0, '$' .. last)
  end
end
local function forget(building, gone, ttl, items)
  if building and #items > 0 then
    each_chunk(items, function(part) redis.call('SADD', gone, unpack(part)) end)
    redis.call('PEXPIRE', gone, ttl)
  end
end
""".replace("SCRIPT_CHUNK", str(SCRIPT_CHUNK)).replace("ID_DIGITS", str(ID_DIGITS))
_LIB = _LIB.replace("FIRST_EPOCH", currency.FIRST_EPOCH)

#: KEYS: timeline, (gone). ARGV: max items, members... Adds only to a live (or
#: rebuilding) timeline, drops what falls at or below the floor, trims.
_PUSH = _script("""
local floor = markers(KEYS[1])
if not floor then return 0 end
add(KEYS[1], {unpack(ARGV, 2)})
trim(KEYS[1], floor, tonumber(ARGV[1]))
return 1
""")

#: KEYS: timeline, gone. ARGV: gone TTL ms, members...
_REMOVE = _script("""
local floor, building = markers(KEYS[1])
if not floor then return 0 end
local members = {unpack(ARGV, 2)}
each_chunk(members, function(part) redis.call('ZREM', KEYS[1], unpack(part)) end)
forget(building, KEYS[2], ARGV[1], members)
return 1
""")

#: KEYS: timeline, gone. ARGV: gone TTL ms, author. Every entry of the author.
_REMOVE_AUTHOR = _script("""
local floor, building = markers(KEYS[1])
if not floor then return 0 end
local suffix = ':' .. ARGV[2]
local members = {}
for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], '[0', '+')) do
  if string.sub(m, -#suffix) == suffix then members[#members + 1] = m end
end
each_chunk(members, function(part) redis.call('ZREM', KEYS[1], unpack(part)) end)
forget(building, KEYS[2], ARGV[1], {'@' .. ARGV[2]})
return #members
""")

#: KEYS: timeline, gone. ARGV: building marker, empty floor marker, TTL ms,
#: epoch marker. Starts a rebuild unless the timeline is live in this epoch;
#: a rebuild left by a crashed or slow builder is started over (its token no
#: longer matches).
_BEGIN = _script("""
local floor, building, epoch = markers(KEYS[1])
if floor and not building and epoch == ARGV[4] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZADD', KEYS[1], 0, ARGV[2], 0, ARGV[1], 0, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
""")

#: KEYS: timeline, gone. ARGV: building marker, floor marker, max items, TTL
#: ms, members... Adds the snapshot, less what was removed meanwhile, to what
#: was pushed during the rebuild, and makes the timeline live.
_FINISH = _script("""
local floor, building = markers(KEYS[1])
if building ~= ARGV[1] then return 0 end
local keep = {}
each_chunk({unpack(ARGV, 5)}, function(part)
  local probes = {}
  for _, m in ipairs(part) do
    probes[#probes + 1] = m
    probes[#probes + 1] = '@' .. string.sub(m, DIGITS + 2)
  end
  local gone = redis.call('SMISMEMBER', KEYS[2], unpack(probes))
  for i, m in ipairs(part) do
    if gone[2 * i - 1] == 0 and gone[2 * i] == 0 then keep[#keep + 1] = m end
  end
end)
add(KEYS[1], keep)
redis.call('ZREM', KEYS[1], building)
redis.call('ZADD', KEYS[1], 0, ARGV[2])
local floors = redis.call('ZRANGEBYLEX', KEYS[1], '[$', '(%')
if #floors > 1 then redis.call('ZREM', KEYS[1], floors[1]) end
floor = floors[#floors]
trim(KEYS[1], floor, tonumber(ARGV[3]))
redis.call('DEL', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
""")

#: KEYS: timeline. ARGV: upper lex bound, limit, TTL ms. Reading refreshes the
#: TTL. The caller compares the epoch returned with the current one.
_READ = _script("""
local floor, building, epoch = markers(KEYS[1])
if not floor then return {'absent'} end
if building then return {'building'} end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local ids = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '[0', 'LIMIT', 0, ARGV[2])
return {'live', string.sub(floor, 2), ids, string.sub(epoch, 2)}
""")

#: KEYS: a key. ARGV: hash field ('' for a string key), value. Deletes it
#: only if it still holds the value this caller saw.
_DELETE_IF = _script(
    """
if ARGV[1] == '' then
  if redis.call('GET', KEYS[1]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
elseif redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
""",
    lib=False,
)


#: Absent, or stale (built before Redis lost events): rebuild it. Building:
#: wait for the builder.
TimelineState = Literal["absent", "building", "live", "stale"]


@dataclass(frozen=True, slots=True)
class TimelineRead:
    """One slice of a timeline, the marked celebrities and this Redis's relay
    mark and epoch (same round trip)."""

    state: TimelineState
    #: The feed ends here: the timeline holds every entry with a greater id.
    floor: int
    #: Newest first, below the bound asked for.
    tweet_ids: tuple[int, ...]
    celebrity_ids: frozenset[int]
    #: The current epoch; a rebuild stores it in the timeline.
    epoch: str = currency.FIRST_EPOCH
    #: The highest outbox id this Redis has taken (see currency.py).
    relayed: int = 0


async def read(
    redis: Redis, *, user_id: int, before_id: int | None, limit: int, ttl_ms: int
) -> TimelineRead:
    """Up to ``limit`` ids below ``before_id`` (exclusive) of a live timeline,
    the marked celebrities, and the relay mark and epoch: one round trip."""
    upper = "+" if before_id is None else "(" + _padded(before_id)

    def queue(pipe: Pipeline) -> None:
        _READ.queue(pipe, keys=[timeline_key(user_id)], args=[upper, limit, ttl_ms])
        pipe.hkeys(CELEBRITIES_KEY)
        pipe.hmget(currency.CURRENCY_KEY, ["epoch", "relayed"])

    reply, marked, current = await _batch(redis, queue)
    epoch, relayed = currency.parse(current)
    live = reply[0] == "live"
    state = "stale" if live and reply[3] != epoch else reply[0]
    return TimelineRead(
        state=state,
        floor=int(reply[1]) if live else 0,
        tweet_ids=tuple(int(m[:ID_DIGITS]) for m in reply[2]) if live else (),
        celebrity_ids=frozenset(int(author) for author in marked),
        epoch=epoch,
        relayed=relayed,
    )


async def exists(redis: Redis, *, user_id: int) -> bool:
    """True if the timeline is live or being rebuilt (it takes pushes)."""
    return bool(await redis.exists(timeline_key(user_id)))


async def push(
    redis: Redis, *, user_ids: Sequence[int], entries: Sequence[Entry], max_items: int
) -> int:
    """Add ``entries`` to each of the users' timelines that exist, and trim:
    one script per timeline (atomic "add if live, then trim"), pipelined.
    Returns how many timelines took them."""
    return sum(await _per_timeline(redis, _PUSH, user_ids, entries, max_items))


async def remove(
    redis: Redis, *, user_ids: Sequence[int], entries: Sequence[Entry], gone_ttl_ms: int
) -> None:
    """Take ``entries`` out of each of the users' timelines (pipelined)."""
    await _per_timeline(redis, _REMOVE, user_ids, entries, gone_ttl_ms)


async def remove_author(redis: Redis, *, user_id: int, author_id: int, gone_ttl_ms: int) -> int:
    """Take every entry of ``author_id`` out of the user's timeline (unfollow);
    returns how many there were."""
    return int(await _REMOVE_AUTHOR(redis, keys=_keys(user_id), args=[gone_ttl_ms, author_id]))


async def _per_timeline(
    redis: Redis, script: Script, user_ids: Sequence[int], entries: Sequence[Entry], head: int
) -> list[int]:
    """``script`` on each user's timeline and gone keys, with ``head`` then the entries."""
    members = [member(*entry) for entry in entries]
    per_pipeline = max(1, PIPELINE_MEMBERS // max(1, len(members)))
    replies: list[int] = []
    for start in range(0, len(user_ids) if members else 0, per_pipeline):
        part = user_ids[start : start + per_pipeline]

        def queue(pipe: Pipeline, part: Sequence[int] = part) -> None:
            for user_id in part:
                script.queue(pipe, keys=_keys(user_id), args=[head, *members])

        replies += await _batch(redis, queue)
    return replies


async def begin_build(
    redis: Redis, *, user_id: int, token: str, ttl_ms: int, epoch: str = currency.FIRST_EPOCH
) -> bool:
    """Mark the timeline as being rebuilt in ``epoch`` (the current one, as a
    read returned it); False if it is live in that epoch already.

    From here on pushes and removals apply to it, so the builder may read the
    graph and Postgres *after* this and lose nothing that happens meanwhile.
    """
    args = [_BUILDING + token, _FLOOR + _padded(0), ttl_ms, _EPOCH + epoch]
    return bool(await _BEGIN(redis, keys=_keys(user_id), args=args))


async def finish_build(
    redis: Redis,
    *,
    user_id: int,
    token: str,
    entries: Sequence[Entry],
    floor: int,
    max_items: int,
    ttl_ms: int,
    celebrity_ids: Sequence[int],
) -> bool:
    """Store the rebuilt entries and make the timeline live; mark the
    celebrities it left out first (one round trip). False if the rebuild was
    lost (Redis flushed, the key expired, or another builder took over)."""
    args = [_BUILDING + token, _FLOOR + _padded(floor), max_items, ttl_ms]

    def queue(pipe: Pipeline) -> None:
        _queue_marks(pipe, celebrity_ids)
        _FINISH.queue(pipe, keys=_keys(user_id), args=[*args, *(member(*e) for e in entries)])

    return bool((await _batch(redis, queue))[-1])


async def try_lock(redis: Redis, *, user_id: int, token: str, ttl_ms: int) -> bool:
    return bool(await redis.set(_lock_key(user_id), token, nx=True, px=ttl_ms))


async def unlock(redis: Redis, *, user_id: int, token: str) -> None:
    """Release the lock if this token still holds it (it may have expired)."""
    await _DELETE_IF(redis, keys=[_lock_key(user_id)], args=["", token])


async def mark_celebrities(redis: Redis, *, author_ids: Sequence[int]) -> None:
    """Record that these authors' tweets were left out of some timeline."""
    if author_ids:
        await _batch(redis, lambda pipe: _queue_marks(pipe, author_ids))


def _queue_marks(pipe: Pipeline, author_ids: Sequence[int]) -> None:
    """A new generation per mark, so an unmark based on an older one fails."""
    for author_id in author_ids:
        pipe.hincrby(CELEBRITIES_KEY, str(author_id), 1)


async def celebrity_mark(redis: Redis, *, author_id: int) -> str | None:
    """The author's mark (a generation), or None when not marked."""
    return await redis.hget(CELEBRITIES_KEY, str(author_id))


async def unmark_celebrity(redis: Redis, *, author_id: int, mark: str) -> bool:
    """Drop the mark unless it changed since ``mark`` was read (left out again)."""
    return bool(await _DELETE_IF(redis, keys=[CELEBRITIES_KEY], args=[str(author_id), mark]))
