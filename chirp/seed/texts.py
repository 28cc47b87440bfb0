"""Tweet texts that look like a timeline: words, hashtags, mentions and links.

The mix follows DeathStarBench's compose-post (0 to 5 mentions and 0 to 5
URLs, uniformly), plus 0 to 3 hashtags from a Zipf-distributed vocabulary so
that a few tags are everywhere and most are rare, as on a real timeline. The
text is only composed here; ``chirp.services.text.parse_tweet_text`` decides
what it holds, exactly as for ``postTweet``.
"""

from __future__ import annotations

import bisect
import itertools
import random
import string
from typing import Final

from chirp.services.text import MAX_TWEET_LENGTH, URL_WEIGHT

#: DeathStarBench's compose-post: up to 5 mentions and up to 5 URLs per post.
MAX_MENTIONS: Final = 5
MAX_URLS: Final = 5
MAX_HASHTAGS: Final = 3
#: Distinct hashtags in circulation; with the Zipf exponent below the top ten
#: carry about a third of all uses, which is what makes trends interesting.
HASHTAG_VOCABULARY_SIZE: Final = 1_000
#: Word-frequency-like skew (Zipf's law, s = 1).
HASHTAG_ZIPF_EXPONENT: Final = 1.0
#: Shortest text aimed for; the rest of the length is drawn up to the limit.
MIN_TARGET_LENGTH: Final = 20
#: Share of links that are plain http (DeathStarBench uses http only).
HTTP_SHARE: Final = 0.2
#: Random characters in a link's path, enough to make links distinct.
URL_TOKEN_LENGTH: Final = 10
#: Chance that a word ends a sentence.
SENTENCE_END_CHANCE: Final = 0.12

_TAGS: Final = (
    "GraphQL Python Postgres Redis Neo4j OpenSource WebDev DevOps MachineLearning AI "
    "Music Football Coffee Photography Travel Books Movies Gaming Science Space Climate "
    "News Breaking Elections Startup Design Cats Dogs Food Vegan Running Fitness Art "
    "Jazz Marathon MondayMotivation ThrowbackThursday FridayFeeling TBT Reed2005"
).split()
_WORDS: Final = (
    "the a an and or but so if then when while because after before just really very "
    "today tonight tomorrow yesterday week weekend morning evening year time day night "
    "people friends team city world home work school class campus library coffee lunch "
    "dinner music game show movie book paper talk idea plan project code bug release "
    "demo test build server data graph feed trend link photo video post thread reply "
    "new old big small good great bad best worst fun weird busy quiet late early happy "
    "tired excited curious sure fast slow real whole little "
    "is are was were be been have has had do does did can could will would should must "
    "love like want need think know see read write watch listen go going come make made "
    "take try finish start ship fix break learn share find meet miss wait "
    "i you we they it this that these those my your our their everyone nobody something "
    "here there now again still already never always maybe finally honestly literally"
).split()
_DOMAINS: Final = (
    "example.com",
    "news.example.org",
    "blog.example.net",
    "github.com",
    "en.wikipedia.org",
    "www.youtube.com",
    "docs.python.org",
    "arxiv.org",
)
_ALPHANUMERIC: Final = string.ascii_letters + string.digits


def hashtag_vocabulary() -> list[str]:
    """Tags as people type them (mixed case); stored lower-cased by the parser."""
    extra = (f"Topic{n}" for n in itertools.count(1))
    return [*_TAGS, *itertools.islice(extra, HASHTAG_VOCABULARY_SIZE - len(_TAGS))]


class TextGenerator:
    """Composes tweet texts from a seeded ``random.Random`` (deterministic)."""

    def __init__(self, *, rng: random.Random, user_count: int) -> None:
        self._rng = rng
        self._user_count = user_count
        self._tags = hashtag_vocabulary()
        weights = [(rank + 1) ** -HASHTAG_ZIPF_EXPONENT for rank in range(len(self._tags))]
        self._tag_cum_weights = list(itertools.accumulate(weights))

    def text(self, *, reply_to_handle: str | None = None) -> str:
        """A text of at most ``MAX_TWEET_LENGTH`` weighted characters.

        A reply starts with ``@`` and the author it answers, as clients write it.
        """
        rng = self._rng
        mentions = rng.randint(0, MAX_MENTIONS)
        handles = [f"user_{rng.randrange(self._user_count)}" for _ in range(mentions)]
        extras = [f"@{h}" for h in handles]
        extras += [self._url() for _ in range(rng.randint(0, MAX_URLS))]
        tags = [f"#{tag}" for tag in self._hashtags(rng.randint(0, MAX_HASHTAGS))]
        lead = [f"@{reply_to_handle}"] if reply_to_handle else []
        fixed = [*lead, *extras, *tags]
        budget = rng.randint(MIN_TARGET_LENGTH, MAX_TWEET_LENGTH) - _weighted_length(fixed)
        words = self._words(budget)
        for token in extras:  # mentions and links sit anywhere in the prose
            words.insert(rng.randint(0, len(words)), token)
        # The budget counts each token plus one space, so the weighted length is
        # at most the target minus one (the fixed tokens alone stay far below).
        return " ".join([*lead, *words, *tags])

    def _hashtags(self, count: int) -> list[str]:
        chosen: dict[str, None] = {}
        total = self._tag_cum_weights[-1]
        while len(chosen) < count:
            index = bisect.bisect(self._tag_cum_weights, self._rng.random() * total)
            chosen.setdefault(self._tags[index], None)
        return list(chosen)

    def _url(self) -> str:
        rng = self._rng
        scheme = "http" if rng.random() < HTTP_SHARE else "https"
        token = "".join(rng.choices(_ALPHANUMERIC, k=URL_TOKEN_LENGTH))
        return f"{scheme}://{rng.choice(_DOMAINS)}/{rng.choice(_WORDS)}/{token}"

    def _words(self, budget: int) -> list[str]:
        """Sentences of filler words whose joined length (with spaces) fits ``budget``."""
        rng = self._rng
        words: list[str] = []
        used = 0
        capitalize = True
        while True:
            word = rng.choice(_WORDS)
            if capitalize:
                word = word.capitalize()
            capitalize = rng.random() < SENTENCE_END_CHANCE
            if capitalize:
                word += rng.choice(".!?")
            if used + len(word) + 1 > budget:
                return words
            words.append(word)
            used += len(word) + 1


def _weighted_length(tokens: list[str]) -> int:
    """Length of the tokens joined by spaces, each URL counting ``URL_WEIGHT``."""
    return sum(URL_WEIGHT if "://" in t else len(t) for t in tokens) + len(tokens)
