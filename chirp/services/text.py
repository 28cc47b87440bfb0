"""What a tweet's text holds: its weighted length, hashtags, mentions and URLs.

Pure functions, so the rules are easy to test: NFC normalisation first, then
URLs are found (each counts as ``URL_WEIGHT`` characters, Twitter's t.co rule),
and hashtags and mentions are looked for only outside URLs, so
``https://example.com/#top`` holds no hashtag.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Twitter's limit, which clients' composers are built around.
MAX_TWEET_LENGTH = 280
#: Every URL counts as this many characters, whatever its length (t.co rule).
URL_WEIGHT = 23
#: A URL runs to whitespace or a character that cannot be in one unquoted.
_URL = re.compile(r"https?://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
#: Sentence punctuation right after a URL belongs to the sentence, not the URL.
_URL_TRAILING = ".,;:!?)]}*"
#: ``#`` then letters, digits or underscores (Unicode-aware), not inside a word.
_HASHTAG = re.compile(r"(?<![\w#&])#(\w+)")
#: ``@`` then a handle's characters, not inside a word or an e-mail address.
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,15})(?![A-Za-z0-9_])")


@dataclass(frozen=True, slots=True)
class TweetText:
    text: str
    length: int
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    urls: tuple[str, ...]


def _urls(text: str) -> list[tuple[int, int, str]]:
    found = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILING)
        # A closing parenthesis that opens inside the URL is part of it (Wikipedia links).
        while match.group()[len(url) : len(url) + 1] == ")" and url.count("(") > url.count(")"):
            url += ")"
        if len(url) > len("https://"):
            found.append((match.start(), match.start() + len(url), url))
    return found


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def parse_tweet_text(raw: str) -> TweetText:
    """Normalise and analyse text; the caller decides what length is allowed."""
    text = unicodedata.normalize("NFC", raw).strip()
    urls = _urls(text)
    outside, last = [], 0
    for start, end, _ in urls:
        outside.append(text[last:start])
        last = end
    outside.append(text[last:])
    plain = " ".join(outside)
    return TweetText(
        text=text,
        length=len(plain) - (len(outside) - 1) + URL_WEIGHT * len(urls),
        hashtags=_unique([tag.lower() for tag in _HASHTAG.findall(plain)]),
        mentions=_unique([handle.lower() for handle in _MENTION.findall(plain)]),
        urls=tuple(url for _, _, url in urls),
    )
