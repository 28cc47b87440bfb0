-- Notifications: made by the notifications worker from the event stream.
--
-- `tweet_id` is the tweet the notification is about: the liked tweet for a
-- LIKE, the actor's own tweet for the others (the reply, the quote, the
-- mentioning tweet, the retweet row), so deleting that tweet, or undoing the
-- retweet, takes the notification with it.
CREATE TABLE notifications (
    id           bigint      PRIMARY KEY,                                   -- Snowflake
    recipient_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text        NOT NULL
        CHECK (kind IN ('FOLLOW', 'LIKE', 'RETWEET', 'REPLY', 'MENTION', 'QUOTE')),
    actor_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tweet_id     bigint      REFERENCES tweets (id) ON DELETE CASCADE,
    -- The outbox id of the event that made it: a redelivered event (the stream
    -- is at-least-once) makes nothing twice.
    event_id     bigint      NOT NULL,
    read         boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (actor_id <> recipient_id),
    UNIQUE (event_id, recipient_id, kind)
);

-- The list, newest first.
CREATE INDEX notifications_recipient_id_idx ON notifications (recipient_id, id DESC);
-- unreadNotificationCount and markNotificationsRead touch only unread rows.
CREATE INDEX notifications_unread_idx ON notifications (recipient_id) WHERE NOT read;
-- One unread notification per like and per follow: a like, unlike, like in
-- quick succession (three events) leaves one, and the undo finds it here.
CREATE UNIQUE INDEX notifications_unread_like_key ON notifications (actor_id, tweet_id)
    WHERE kind = 'LIKE' AND NOT read;
CREATE UNIQUE INDEX notifications_unread_follow_key ON notifications (actor_id, recipient_id)
    WHERE kind = 'FOLLOW' AND NOT read;
-- ON DELETE CASCADE from users needs the actor side indexed too.
CREATE INDEX notifications_actor_id_idx ON notifications (actor_id);
-- ... and from tweets.
CREATE INDEX notifications_tweet_id_idx ON notifications (tweet_id) WHERE tweet_id IS NOT NULL;
