"""The hashtag feed: tweets carrying a tag, newest first."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from chirp.errors import BadUserInput
from chirp.pagination import Page, check_first, decode_cursor
from chirp.persistence import tweets
from chirp.persistence.tweets import TweetRecord
from chirp.runtime import Runtime
from chirp.services.text import MAX_TWEET_LENGTH
from chirp.services.tweets import tweet_page

#: What a stored hashtag is (see services.text): letters, digits, underscores.
_TAG = re.compile(r"\w+")
#: A tag longer than a tweet's text can hold cannot be on any tweet.
MAX_TAG_LENGTH: Final = MAX_TWEET_LENGTH - 1


def normalize_tag(raw: str) -> str:
    """The stored form of a tag as a client may write it: any case, with or
    without a leading ``#``; BAD_USER_INPUT if it cannot be a hashtag."""
    tag = unicodedata.normalize("NFC", raw).strip().removeprefix("#").lower()
    if not _TAG.fullmatch(tag) or len(tag) > MAX_TAG_LENGTH:
        raise BadUserInput(
            "`tag` must be a hashtag (letters, digits, underscores; `#` optional).",
            field="tag",
        )
    return tag


async def hashtag_feed(
    rt: Runtime, *, tag: str, first: int | None, after: str | None
) -> Page[TweetRecord]:
    """Keyset-paged on tweet id, so pages stay stable while tweets arrive."""
    size = check_first(first)
    normalized = normalize_tag(tag)
    cursor = decode_cursor(after, size=1)
    rows = await tweets.hashtag_page(
        rt.db.read, tag=normalized, before_id=cursor[0] if cursor else None, limit=size + 1
    )
    return tweet_page(rows, first=size)
