"""The seeded tweets, replies, retweets and likes, as rows ready for COPY.

Planned in memory first so that every counter is exact before a row is
written: ``users.tweet_count`` (tweets and retweets), ``reply_count``,
``retweet_count`` and ``like_count``, which live writes keep exact statement
by statement. Hashtags and mentions come from ``parse_tweet_text``, so a
seeded tweet holds exactly what ``postTweet`` would have stored for its text.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from chirp.ids import base62_encode, timestamp_ms
from chirp.persistence.bulk import (
    HashtagRow,
    LikeRow,
    LinkRow,
    MentionRow,
    TweetLinkRow,
    TweetRow,
)
from chirp.seed.graphs import DAY_MS, SeedUsers, between
from chirp.seed.ids import ids_for_times
from chirp.seed.texts import TextGenerator
from chirp.services.text import MAX_TWEET_LENGTH, parse_tweet_text

#: Tweets are spread over the last two weeks: recent enough for feeds and
#: search to look alive, long enough that pages reach back in time.
TWEET_SPAN_DAYS: Final = 14
#: Share of tweets that answer an earlier tweet.
REPLY_SHARE: Final = 0.15
#: Share of tweets that are retweets (empty text, one per user per tweet).
RETWEET_SHARE: Final = 0.05
#: Conversations happen around fresh tweets: replies and retweets pick among
#: the latest this many tweets.
RECENT_WINDOW: Final = 2_000
#: Tries to find a tweet the author has not retweeted yet before posting an
#: ordinary tweet instead.
RETWEET_TRIES: Final = 5
#: Tweets per author follow Zipf's law with this exponent over a shuffled
#: order: a few accounts post a lot, most post rarely.
AUTHOR_ZIPF_EXPONENT: Final = 0.8
#: Mean likes per tweet (exponentially distributed, so a few tweets get many).
MEAN_LIKES: Final = 2.0

_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ms: int) -> datetime:
    """Exact (no float rounding) aware datetime for epoch milliseconds."""
    return _UNIX_EPOCH + timedelta(milliseconds=ms)


@dataclass(slots=True)
class TweetPlan:
    tweets: list[TweetRow] = field(default_factory=list)
    hashtags: list[HashtagRow] = field(default_factory=list)
    mentions: list[MentionRow] = field(default_factory=list)
    likes: list[LikeRow] = field(default_factory=list)
    #: A short link per distinct URL of a tweet, owned by its author, as
    #: ``postTweet`` makes them; codes from seed-worker Snowflake ids.
    links: list[LinkRow] = field(default_factory=list)
    tweet_links: list[TweetLinkRow] = field(default_factory=list)
    #: Tweets and retweets per user index (``users.tweet_count``).
    tweet_counts: list[int] = field(default_factory=list)
    replies: int = 0
    retweets: int = 0


@dataclass(slots=True)
class _Draft:
    id: int
    author: int
    text: str
    reply_to: int | None = None  # index into the drafts
    retweet_of: int | None = None
    hashtags: list[str] = field(default_factory=list)
    reply_count: int = 0
    retweet_count: int = 0
    like_count: int = 0


def plan_tweets(
    *, count: int, users: SeedUsers, user_ids: list[int], now_ms: int, seed: int
) -> TweetPlan:
    """``count`` tweets over the last ``TWEET_SPAN_DAYS``, newest last, ids increasing."""
    rng = random.Random(seed)
    plan = TweetPlan(tweet_counts=[0] * len(users))
    if count == 0 or not users:
        return plan
    start = max(now_ms - TWEET_SPAN_DAYS * DAY_MS, users.created_ms[-1] + 1)
    ids = ids_for_times(sorted(between(start, now_ms - 1, rng) for _ in range(count)))
    authors = _author_picker(len(users), rng)
    texts = TextGenerator(rng=rng, user_count=len(users))
    index_by_handle = {handle.lower(): i for i, handle in enumerate(users.handles)}
    drafts: list[_Draft] = []
    originals: list[int] = []  # drafts that can be replied to or retweeted
    retweeted: set[tuple[int, int]] = set()
    urls: list[tuple[int, int, str]] = []  # (tweet id, author, url), in tweet order
    for tweet_id in ids:
        author = authors()
        draft = _retweet(author, tweet_id, drafts, originals, retweeted, rng)
        if draft is None:
            parent = None
            if originals and rng.random() < REPLY_SHARE:
                parent = originals[
                    rng.randrange(max(0, len(originals) - RECENT_WINDOW), len(originals))
                ]
            reply_handle = users.handles[drafts[parent].author] if parent is not None else None
            parsed = parse_tweet_text(texts.text(reply_to_handle=reply_handle))
            if not 0 < parsed.length <= MAX_TWEET_LENGTH:  # postTweet would refuse it
                raise AssertionError(f"seed text of weighted length {parsed.length}")
            draft = _Draft(
                tweet_id, author, parsed.text, reply_to=parent, hashtags=list(parsed.hashtags)
            )
            plan.hashtags.extend((tag, tweet_id) for tag in parsed.hashtags)
            urls.extend((tweet_id, author, url) for url in dict.fromkeys(parsed.urls))
            found = [index_by_handle[h] for h in parsed.mentions if h in index_by_handle]
            plan.mentions.extend(
                (tweet_id, user_ids[user], position) for position, user in enumerate(found)
            )
            if parent is not None:
                drafts[parent].reply_count += 1
                plan.replies += 1
            originals.append(len(drafts))
        else:
            plan.retweets += 1
        plan.tweet_counts[author] += 1
        drafts.append(draft)
    _like(drafts, originals, user_ids=user_ids, now_ms=now_ms, rng=rng, plan=plan)
    plan.tweets = [_row(d, drafts, user_ids) for d in drafts]
    _links(urls, user_ids=user_ids, plan=plan)
    return plan


def _links(urls: list[tuple[int, int, str]], *, user_ids: list[int], plan: TweetPlan) -> None:
    """Links created with their tweets: ids (hence codes) minted at the tweet's time."""
    link_ids = ids_for_times(timestamp_ms(tweet_id) for tweet_id, _, _ in urls)
    position = 0
    for index, ((tweet_id, author, url), link_id) in enumerate(zip(urls, link_ids, strict=True)):
        position = position + 1 if index and urls[index - 1][0] == tweet_id else 0
        code = base62_encode(link_id)
        created = to_datetime(timestamp_ms(tweet_id))
        plan.links.append((code, url, user_ids[author], created))
        plan.tweet_links.append((tweet_id, position, code))


def _author_picker(user_count: int, rng: random.Random) -> Callable[[], int]:
    """A function drawing user indexes by Zipf weight over a shuffled order."""
    order = list(range(user_count))
    rng.shuffle(order)
    cum = list(itertools.accumulate((r + 1) ** -AUTHOR_ZIPF_EXPONENT for r in range(user_count)))
    total = cum[-1]

    def pick() -> int:
        return order[bisect.bisect(cum, rng.random() * total)]

    return pick


def _retweet(
    author: int,
    tweet_id: int,
    drafts: list[_Draft],
    originals: list[int],
    retweeted: set[tuple[int, int]],
    rng: random.Random,
) -> _Draft | None:
    """A retweet of a recent tweet by someone else, once per user; else None."""
    if not originals or rng.random() >= RETWEET_SHARE:
        return None
    low = max(0, len(originals) - RECENT_WINDOW)
    for _ in range(RETWEET_TRIES):
        target = originals[rng.randrange(low, len(originals))]
        if drafts[target].author != author and (author, target) not in retweeted:
            retweeted.add((author, target))
            drafts[target].retweet_count += 1
            return _Draft(tweet_id, author, "", retweet_of=target)
    return None


def _like(
    drafts: list[_Draft],
    originals: list[int],
    *,
    user_ids: list[int],
    now_ms: int,
    rng: random.Random,
    plan: TweetPlan,
) -> None:
    """Likes on tweets (never on retweets: liking one likes its original)."""
    for index in originals:
        draft = drafts[index]
        likes = min(int(rng.expovariate(1 / MEAN_LIKES)), len(user_ids))
        if not likes:
            continue
        created = timestamp_ms(draft.id)
        for user in rng.sample(range(len(user_ids)), likes):
            plan.likes.append(
                (user_ids[user], draft.id, to_datetime(between(created, now_ms, rng)))
            )
        draft.like_count = likes


def _row(draft: _Draft, drafts: list[_Draft], user_ids: list[int]) -> TweetRow:
    return (
        draft.id,
        user_ids[draft.author],
        draft.text,
        None if draft.reply_to is None else drafts[draft.reply_to].id,
        None if draft.retweet_of is None else drafts[draft.retweet_of].id,
        draft.hashtags,
        draft.like_count,
        draft.retweet_count,
        draft.reply_count,
        to_datetime(timestamp_ms(draft.id)),
    )
