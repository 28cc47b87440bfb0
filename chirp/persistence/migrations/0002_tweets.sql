-- Tweets, retweets, likes, hashtags and mentions.

-- A retweet is a tweet row with retweet_of_id set and empty text. Counters are
-- columns updated in the same transaction as the row they count, so they are
-- exact under concurrency and cost no extra query to read.
CREATE TABLE tweets (
    id            bigint      PRIMARY KEY,                                   -- Snowflake
    author_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text          text        NOT NULL,
    reply_to_id   bigint      REFERENCES tweets (id) ON DELETE SET NULL,
    quote_of_id   bigint      REFERENCES tweets (id) ON DELETE SET NULL,
    retweet_of_id bigint      REFERENCES tweets (id) ON DELETE CASCADE,
    hashtags      text[]      NOT NULL DEFAULT '{}',                         -- lower-cased, in order
    like_count    integer     NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    retweet_count integer     NOT NULL DEFAULT 0 CHECK (retweet_count >= 0),
    reply_count   integer     NOT NULL DEFAULT 0 CHECK (reply_count >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- User timeline: a user's tweets and retweets, newest first.
CREATE INDEX tweets_author_id_idx ON tweets (author_id, id DESC);
-- Replies of a tweet, newest first.
CREATE INDEX tweets_reply_to_id_idx ON tweets (reply_to_id, id DESC) WHERE reply_to_id IS NOT NULL;
-- Quotes of a tweet (and ON DELETE SET NULL needs it).
CREATE INDEX tweets_quote_of_id_idx ON tweets (quote_of_id) WHERE quote_of_id IS NOT NULL;
-- One retweet per user per tweet; also answers viewerHasRetweeted.
CREATE UNIQUE INDEX tweets_one_retweet_key ON tweets (author_id, retweet_of_id)
    WHERE retweet_of_id IS NOT NULL;
-- Retweets of a tweet (ON DELETE CASCADE needs it).
CREATE INDEX tweets_retweet_of_id_idx ON tweets (retweet_of_id) WHERE retweet_of_id IS NOT NULL;

ALTER TABLE users ADD COLUMN tweet_count integer NOT NULL DEFAULT 0 CHECK (tweet_count >= 0);

CREATE TABLE likes (
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tweet_id   bigint      NOT NULL REFERENCES tweets (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, tweet_id)                  -- also answers viewerHasLiked
);
CREATE INDEX likes_tweet_id_idx ON likes (tweet_id);

-- Hashtag feed: tweets carrying a tag, newest first.
CREATE TABLE tweet_hashtags (
    tag      text   NOT NULL,
    tweet_id bigint NOT NULL REFERENCES tweets (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, tweet_id)
);
CREATE INDEX tweet_hashtags_tweet_id_idx ON tweet_hashtags (tweet_id);

CREATE TABLE tweet_mentions (
    tweet_id bigint   NOT NULL REFERENCES tweets (id) ON DELETE CASCADE,
    user_id  bigint   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position smallint NOT NULL,                       -- order of appearance
    PRIMARY KEY (tweet_id, user_id)
);
CREATE INDEX tweet_mentions_user_id_idx ON tweet_mentions (user_id, tweet_id DESC);
