"""Tweets: lookups, writes, and the fields of Tweet (and User.tweets)."""

from __future__ import annotations

import strawberry

from chirp.ids import NodeKind, from_global_id, to_global_id
from chirp.loaders.tweets import TweetPageLoader
from chirp.pagination import DEFAULT_PAGE_SIZE, Page, check_first, decode_cursor
from chirp.persistence.tweets import TweetRecord
from chirp.persistence.users import UserRecord
from chirp.resolvers import ChirpInfo
from chirp.services import tweets


def _tweet_id(global_id: str | None, field: str) -> int | None:
    if global_id is None:
        return None
    return from_global_id(global_id, expect=NodeKind.TWEET, field=field)[1]


def _before(after: str | None) -> int | None:
    key = decode_cursor(after, size=1)
    return key[0] if key else None


async def tweet(info: ChirpInfo, id: strawberry.ID) -> TweetRecord | None:
    tweet_id = _tweet_id(id, "id")
    assert tweet_id is not None
    return await info.context.loaders.tweet_by_id.load(tweet_id)


async def post_tweet(
    info: ChirpInfo,
    text: str,
    reply_to_id: strawberry.ID | None = None,
    quote_of_id: strawberry.ID | None = None,
) -> TweetRecord:
    ctx = info.context
    author_id = await ctx.require_viewer_id()
    posted = await tweets.post_tweet(
        ctx.rt,
        author_id=author_id,
        text=text,
        reply_to_id=_tweet_id(reply_to_id, "replyToId"),
        quote_of_id=_tweet_id(quote_of_id, "quoteOfId"),
    )
    ctx.loaders.tweet_by_id.prime_records([posted])
    return posted


async def delete_tweet(info: ChirpInfo, id: strawberry.ID) -> bool:
    ctx = info.context
    actor_id = await ctx.require_viewer_id()
    tweet_id = _tweet_id(id, "id")
    assert tweet_id is not None
    await tweets.delete_tweet(ctx.rt, tweet_id=tweet_id, actor_id=actor_id)
    return True


async def _engage(info: ChirpInfo, id: strawberry.ID, action: tweets.Engagement) -> TweetRecord:
    ctx = info.context
    user_id = await ctx.require_viewer_id()
    tweet_id = _tweet_id(id, "id")
    assert tweet_id is not None
    result = await action(ctx.rt, user_id=user_id, tweet_id=tweet_id)
    ctx.loaders.tweet_by_id.prime_records([result])
    return result


async def like_tweet(info: ChirpInfo, id: strawberry.ID) -> TweetRecord:
    return await _engage(info, id, tweets.like)


async def unlike_tweet(info: ChirpInfo, id: strawberry.ID) -> TweetRecord:
    return await _engage(info, id, tweets.unlike)


async def retweet(info: ChirpInfo, id: strawberry.ID) -> TweetRecord:
    return await _engage(info, id, tweets.retweet)


async def undo_retweet(info: ChirpInfo, id: strawberry.ID) -> TweetRecord:
    return await _engage(info, id, tweets.undo_retweet)


# Fields of Tweet.


def tweet_global_id(root: strawberry.Parent[TweetRecord]) -> strawberry.ID:
    return strawberry.ID(to_global_id(NodeKind.TWEET, root.id))


async def author(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> UserRecord:
    user = await info.context.loaders.user_by_id.load(root.author_id)
    assert user is not None  # tweets go with their author (ON DELETE CASCADE)
    return user


async def _linked(info: ChirpInfo, tweet_id: int | None) -> TweetRecord | None:
    return None if tweet_id is None else await info.context.loaders.tweet_by_id.load(tweet_id)


async def reply_to(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> TweetRecord | None:
    return await _linked(info, root.reply_to_id)


async def quote_of(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> TweetRecord | None:
    return await _linked(info, root.quote_of_id)


async def retweet_of(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> TweetRecord | None:
    return await _linked(info, root.retweet_of_id)


async def mentions(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> list[UserRecord]:
    return await info.context.loaders.mentions_by_tweet.load(root.id)


async def viewer_has_liked(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> bool:
    if info.context.token is None:
        return False
    return (await info.context.loaders.viewer_flags_by_tweet.load(root.id))[0]


async def viewer_has_retweeted(root: strawberry.Parent[TweetRecord], info: ChirpInfo) -> bool:
    if info.context.token is None:
        return False
    return (await info.context.loaders.viewer_flags_by_tweet.load(root.id))[1]


async def _page(
    loader: TweetPageLoader, key: int, first: int | None, after: str | None
) -> Page[TweetRecord]:
    size = check_first(first)
    rows = await loader.load((key, _before(after), size + 1))  # one more: is there a next page?
    return tweets.tweet_page(rows, first=size)


async def replies(
    root: strawberry.Parent[TweetRecord],
    info: ChirpInfo,
    first: int | None = DEFAULT_PAGE_SIZE,
    after: str | None = None,
) -> Page[TweetRecord]:
    return await _page(info.context.loaders.reply_page_by_tweet, root.id, first, after)


async def user_tweets(
    root: strawberry.Parent[UserRecord],
    info: ChirpInfo,
    first: int | None = DEFAULT_PAGE_SIZE,
    after: str | None = None,
) -> Page[TweetRecord]:
    return await _page(info.context.loaders.tweet_page_by_author, root.id, first, after)
