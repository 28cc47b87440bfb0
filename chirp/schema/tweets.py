"""Tweets in the schema; fields resolve off ``TweetRecord`` roots."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from chirp.persistence.tweets import TweetRecord
from chirp.resolvers import links, tweets
from chirp.schema.node import Node
from chirp.schema.pagination import Connection

if TYPE_CHECKING:
    from chirp.schema.links import ShortLink
    from chirp.schema.users import User

UserType = Annotated["User", strawberry.lazy("chirp.schema.users")]
ShortLinkType = Annotated["ShortLink", strawberry.lazy("chirp.schema.links")]


@strawberry.type(
    description="A tweet, reply or quote; or a retweet, which has empty text and `retweetOf`."
)
class Tweet(Node):
    id: strawberry.ID = strawberry.field(
        resolver=tweets.tweet_global_id, description="Opaque global id; do not parse it."
    )
    text: str = strawberry.field(description="NFC-normalised; empty for a retweet.")
    author: UserType = strawberry.field(resolver=tweets.author)
    created_at: datetime
    reply_to: Tweet | None = strawberry.field(
        resolver=tweets.reply_to, description="The tweet this replies to; null once deleted."
    )
    quote_of: Tweet | None = strawberry.field(
        resolver=tweets.quote_of, description="The tweet this quotes; null once deleted."
    )
    retweet_of: Tweet | None = strawberry.field(
        resolver=tweets.retweet_of, description="For a retweet, the tweet it shares."
    )
    hashtags: list[str] = strawberry.field(description="Lower-cased, without `#`, in order.")
    mentions: list[UserType] = strawberry.field(
        resolver=tweets.mentions, description="Existing users @mentioned, in order."
    )
    links: list[ShortLinkType] = strawberry.field(
        resolver=links.tweet_links,
        description="A short link per distinct http(s) URL in the text, in order.",
    )
    like_count: int
    retweet_count: int
    reply_count: int
    viewer_has_liked: bool = strawberry.field(resolver=tweets.viewer_has_liked)
    viewer_has_retweeted: bool = strawberry.field(resolver=tweets.viewer_has_retweeted)
    replies: Connection[Tweet] = strawberry.field(
        resolver=tweets.replies, description="Replies, newest first."
    )

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, TweetRecord)


@strawberry.type
class TweetQuery:
    tweet: Tweet | None = strawberry.field(
        resolver=tweets.tweet, description="A tweet by id; null if it does not exist."
    )


@strawberry.type
class TweetMutation:
    post_tweet: Tweet = strawberry.field(
        resolver=tweets.post_tweet,
        description="1 to 280 characters after NFC normalisation; each URL counts as 23.",
    )
    delete_tweet: bool = strawberry.field(
        resolver=tweets.delete_tweet,
        description="Author only; likes and retweets of the tweet go with it.",
    )
    like_tweet: Tweet = strawberry.field(resolver=tweets.like_tweet, description="Idempotent.")
    unlike_tweet: Tweet = strawberry.field(resolver=tweets.unlike_tweet, description="Idempotent.")
    retweet: Tweet = strawberry.field(
        resolver=tweets.retweet,
        description="Idempotent, one per user per tweet. Returns the retweeted tweet.",
    )
    undo_retweet: Tweet = strawberry.field(
        resolver=tweets.undo_retweet, description="Idempotent. Returns the retweeted tweet."
    )
