"""Tweets: posting, deleting, likes and retweets, and the lists they appear in.

Acting on a retweet (liking, retweeting, replying to or quoting it) acts on
the tweet it shares, as on Twitter: a retweet has no text of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chirp.errors import BadUserInput, Forbidden, NotFound
from chirp.pagination import Page
from chirp.persistence import tweets, users
from chirp.persistence.tweets import MissingReference, TweetRecord
from chirp.runtime import Runtime
from chirp.services import links
from chirp.services.text import MAX_TWEET_LENGTH, URL_WEIGHT, parse_tweet_text

#: like, unlike, retweet and undo_retweet share this shape.
Engagement = Callable[..., Awaitable[TweetRecord]]


def _not_found(field: str | None = None) -> NotFound:
    message = "No such tweet." if field is None else f"`{field}` names no tweet."
    return NotFound(message, field=field) if field else NotFound(message)


async def _original(rt: Runtime, tweet_id: int, *, field: str | None = None) -> TweetRecord:
    """The tweet itself, or the one it retweets; NOT_FOUND when there is none."""
    tweet = await tweets.tweet_by_id(rt.db, tweet_id)
    if tweet is not None and tweet.retweet_of_id is not None:
        tweet = await tweets.tweet_by_id(rt.db, tweet.retweet_of_id)
    if tweet is None:
        raise _not_found(field)
    return tweet


async def post_tweet(
    rt: Runtime,
    *,
    author_id: int,
    text: str,
    reply_to_id: int | None = None,
    quote_of_id: int | None = None,
) -> TweetRecord:
    parsed = parse_tweet_text(text)
    if parsed.length == 0:
        raise BadUserInput("A tweet needs some text.", field="text")
    if parsed.length > MAX_TWEET_LENGTH:
        raise BadUserInput(
            f"Tweets hold at most {MAX_TWEET_LENGTH} characters (a URL counts as "
            f"{URL_WEIGHT}); this one has {parsed.length}.",
            field="text",
        )
    reply_to = await _original(rt, reply_to_id, field="replyToId") if reply_to_id else None
    quote_of = await _original(rt, quote_of_id, field="quoteOfId") if quote_of_id else None
    mentioned = await users.user_ids_by_handles(rt.db, parsed.mentions) if parsed.mentions else []
    new_links = links.tweet_links(rt, parsed.urls)
    try:
        return await tweets.insert_tweet(
            rt.db,
            tweet_id=rt.ids.next_id(),
            author_id=author_id,
            text=parsed.text,
            reply_to_id=reply_to.id if reply_to else None,
            quote_of_id=quote_of.id if quote_of else None,
            hashtags=parsed.hashtags,
            mention_ids=mentioned,
            links=[(link.code, link.target_url) for link in new_links],
        )
    except MissingReference:  # the parent was deleted a moment ago
        raise _not_found("replyToId" if reply_to else "quoteOfId") from None


async def delete_tweet(rt: Runtime, *, tweet_id: int, actor_id: int) -> TweetRecord:
    """Only the author may delete; the tweet's likes and retweets go with it."""
    tweet = await tweets.tweet_by_id(rt.db, tweet_id)
    if tweet is None:
        raise _not_found()
    if tweet.author_id != actor_id:
        raise Forbidden("Only its author can delete a tweet.")
    deleted = await tweets.delete_tweet(rt.db, tweet_id=tweet_id)
    if deleted is None:  # deleted concurrently
        raise _not_found()
    return deleted


async def _on_original(
    rt: Runtime, tweet_id: int, write: Callable[[int], Awaitable[TweetRecord | None]]
) -> TweetRecord:
    """Run ``write`` on the tweet ``tweet_id`` shares (or is); NOT_FOUND if it is gone."""
    tweet = await write((await _original(rt, tweet_id)).id)
    if tweet is None:  # deleted between the lookup and the write
        raise _not_found()
    return tweet


async def like(rt: Runtime, *, user_id: int, tweet_id: int) -> TweetRecord:
    """Idempotent: liking twice counts once."""
    return await _on_original(
        rt, tweet_id, lambda target: tweets.like(rt.db, user_id=user_id, tweet_id=target)
    )


async def unlike(rt: Runtime, *, user_id: int, tweet_id: int) -> TweetRecord:
    return await _on_original(
        rt, tweet_id, lambda target: tweets.unlike(rt.db, user_id=user_id, tweet_id=target)
    )


async def retweet(rt: Runtime, *, user_id: int, tweet_id: int) -> TweetRecord:
    """Idempotent: one retweet per user per tweet. Returns the retweeted tweet."""
    return await _on_original(
        rt,
        tweet_id,
        lambda target: tweets.retweet(
            rt.db, retweet_id=rt.ids.next_id(), user_id=user_id, tweet_id=target
        ),
    )


async def undo_retweet(rt: Runtime, *, user_id: int, tweet_id: int) -> TweetRecord:
    """Idempotent; ``tweet_id`` may name the original or the retweet itself."""
    return await _on_original(
        rt, tweet_id, lambda target: tweets.undo_retweet(rt.db, user_id=user_id, tweet_id=target)
    )


def tweet_page(rows: list[TweetRecord], *, first: int) -> Page[TweetRecord]:
    return Page.from_rows(rows, first=first, key=lambda tweet: (tweet.id,))
