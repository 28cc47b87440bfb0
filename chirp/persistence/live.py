"""Channels and presence keys of live events, and publishing to them.

Channel names are the one thing publishers (workers, any process) and
subscribers (the process holding the socket) must agree on, so they are made
here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis

from chirp.persistence.lua import Script

_PREFIX: Final = "live:"


def timeline_channel(user_id: int) -> str:
    """Tweets entering ``user_id``'s home feed, and changes to whom they follow."""
    return f"{_PREFIX}timeline:{user_id}"


def timeline_presence(user_id: int) -> str:
    """Exists while someone, in any process, listens on the timeline channel."""
    return f"subscribed:timeline:{user_id}"  # Mastodon's name for it


def author_channel(author_id: int) -> str:
    """Tweets of an author above the celebrity threshold (never pushed per follower)."""
    return f"{_PREFIX}author:{author_id}"


def notifications_channel(user_id: int) -> str:
    return f"{_PREFIX}notifications:{user_id}"


def encode(**event: Any) -> str:
    return json.dumps(event, separators=(",", ":"))


def decode(data: str) -> dict[str, Any]:
    return json.loads(data)


# ARGV: message, then user ids. Publishes to the timeline channel of each
# user whose presence key exists: one round trip for a whole page of
# followers, and nothing at all sent for users nobody is watching.
_PUBLISH_TO_WATCHED = """
local sent = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', 'PRESENCE' .. ARGV[i]) == 1 then
    redis.call('PUBLISH', 'CHANNEL' .. ARGV[i], ARGV[1])
    sent = sent + 1
  end
end
return sent
""".replace("PRESENCE", "subscribed:timeline:").replace("CHANNEL", f"{_PREFIX}timeline:")

_PUBLISH_SCRIPT = Script(_PUBLISH_TO_WATCHED, registry=[])


async def publish_to_watched_timelines(
    redis: Redis, *, user_ids: Sequence[int], message: str
) -> int:
    """Publish ``message`` on the timeline channel of each watched user; how many."""
    if not user_ids:
        return 0
    return int(await _PUBLISH_SCRIPT(redis, keys=[], args=[message, *user_ids]))
