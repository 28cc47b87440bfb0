"""Notifications in the schema; fields resolve off ``NotificationRecord`` roots."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from chirp.persistence import notifications as rows
from chirp.persistence.notifications import NotificationRecord
from chirp.resolvers import notifications
from chirp.schema.node import Node
from chirp.schema.pagination import Connection

if TYPE_CHECKING:
    from chirp.schema.tweets import Tweet
    from chirp.schema.users import User

UserType = Annotated["User", strawberry.lazy("chirp.schema.users")]
TweetType = Annotated["Tweet", strawberry.lazy("chirp.schema.tweets")]

NotificationKind = strawberry.enum(
    rows.NotificationKind, description="What the actor did that concerns the viewer."
)


@strawberry.type(description="Something another user did that concerns the viewer.")
class Notification(Node):
    id: strawberry.ID = strawberry.field(
        resolver=notifications.notification_global_id,
        description="Opaque global id; do not parse it.",
    )
    kind: NotificationKind
    actor: UserType = strawberry.field(resolver=notifications.actor, description="Who did it.")
    tweet: TweetType | None = strawberry.field(
        resolver=notifications.tweet,
        description="LIKE: the liked tweet. REPLY, QUOTE, MENTION: the actor's tweet. "
        "RETWEET: the retweet (its `retweetOf` is the viewer's tweet). FOLLOW: null.",
    )
    created_at: datetime
    read: bool = strawberry.field(description="Whether `markNotificationsRead` covered it.")

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, NotificationRecord)


@strawberry.type
class NotificationQuery:
    notifications: Connection[Notification] = strawberry.field(
        resolver=notifications.notification_page,
        description="The viewer's notifications, newest first. Requires a token.",
    )


@strawberry.type
class NotificationMutation:
    mark_notifications_read: int = strawberry.field(
        resolver=notifications.mark_notifications_read,
        description="Mark all of the viewer's notifications read; returns how many were unread.",
    )


@strawberry.type
class NotificationSubscription:
    notifications: Notification = strawberry.subscription(
        resolver=notifications.live_notifications,
        description="Each new notification of the viewer. Requires a token "
        '(`{"authorization": "Bearer <token>"}` in the connection_init payload).',
    )
