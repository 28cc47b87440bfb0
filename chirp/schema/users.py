"""Users and accounts in the schema; fields resolve off ``UserRecord`` roots."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from chirp.persistence.users import UserRecord
from chirp.resolvers import accounts, follows, notifications, tweets, users
from chirp.schema.node import Node
from chirp.schema.pagination import Connection

if TYPE_CHECKING:
    from chirp.schema.tweets import Tweet

TweetType = Annotated["Tweet", strawberry.lazy("chirp.schema.tweets")]


@strawberry.type(description="A Chirp account.")
class User(Node):
    id: strawberry.ID = strawberry.field(
        resolver=users.user_global_id, description="Opaque global id; do not parse it."
    )
    handle: str = strawberry.field(description="Unique, case-insensitively; shown as @handle.")
    display_name: str = strawberry.field(description="Name shown next to the handle.")
    bio: str = strawberry.field(description="Profile text, at most 160 characters.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    follower_count: int = strawberry.field(resolver=follows.follower_count)
    following_count: int = strawberry.field(resolver=follows.following_count)
    tweet_count: int = strawberry.field(description="Tweets and retweets.")
    viewer_follows: bool = strawberry.field(
        resolver=follows.viewer_follows, description="Whether the viewer follows this user."
    )
    follows_viewer: bool = strawberry.field(
        resolver=follows.follows_viewer, description="Whether this user follows the viewer."
    )
    followers: Connection[User] = strawberry.field(
        resolver=follows.followers, description="Who follows this user, newest follow first."
    )
    following: Connection[User] = strawberry.field(
        resolver=follows.following, description="Whom this user follows, newest follow first."
    )
    tweets: Connection[TweetType] = strawberry.field(
        resolver=tweets.user_tweets, description="Their tweets and retweets, newest first."
    )
    unread_notification_count: int | None = strawberry.field(
        resolver=notifications.unread_notification_count,
        description="The viewer's own unread notifications; null for other users.",
    )

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, UserRecord)


@strawberry.type(description="A new session: send `token` as `Authorization: Bearer <token>`.")
class AuthPayload:
    token: str = strawberry.field(description="Opaque bearer token; revoke it with `logOut`.")
    user: User = strawberry.field(description="The account the token belongs to.")


@strawberry.type
class UserQuery:
    viewer: User | None = strawberry.field(
        resolver=users.viewer,
        description="The logged-in user; null without a token.",
    )
    user: User | None = strawberry.field(
        resolver=users.user,
        description="A user by handle (case-insensitive, leading @ optional).",
    )
    who_to_follow: list[User] = strawberry.field(
        resolver=follows.who_to_follow,
        description="People followed by people you follow, most shared first; "
        "the most followed users when you follow nobody.",
    )


@strawberry.type
class UserMutation:
    sign_up: AuthPayload = strawberry.field(
        resolver=accounts.sign_up,
        description="Create an account and log in. Handles: 3-15 of [A-Za-z0-9_].",
    )
    log_in: AuthPayload = strawberry.field(
        resolver=accounts.log_in, description="Start a new session."
    )
    log_out: bool = strawberry.field(
        resolver=accounts.log_out, description="Revoke the token this request was sent with."
    )
    follow: User = strawberry.field(
        resolver=follows.follow, description="Idempotent. Returns the followed user."
    )
    unfollow: User = strawberry.field(
        resolver=follows.unfollow, description="Idempotent. Returns the unfollowed user."
    )
    update_profile: User = strawberry.field(
        resolver=users.update_profile,
        description="Change the viewer's profile; omitted fields stay as they are.",
    )
