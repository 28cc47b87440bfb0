-- Short links, the links inside tweets, and visit counts in daily buckets.

-- A link is keyed by its code: base62 of a Snowflake id, or a chosen alias
-- (case-sensitive, so the text primary key compares bytes as given). Links
-- never change after creation except for their counters, and outlive the
-- tweets they came from (like t.co links).
CREATE TABLE short_links (
    code        text        COLLATE "C" PRIMARY KEY,
    target_url  text        NOT NULL,
    owner_id    bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    max_visits  integer     CHECK (max_visits >= 1),
    -- Visits flushed from Redis (uncapped links) or counted by the redirect
    -- itself (capped links: the conditional update that grants a visit).
    visit_count bigint      NOT NULL DEFAULT 0 CHECK (visit_count >= 0),
    CHECK (max_visits IS NULL OR visit_count <= max_visits)
);
-- ShortLink.owner is a plain lookup; ON DELETE SET NULL needs this index.
CREATE INDEX short_links_owner_id_idx ON short_links (owner_id) WHERE owner_id IS NOT NULL;

-- Tweet.links, in order of appearance.
CREATE TABLE tweet_links (
    tweet_id bigint   NOT NULL REFERENCES tweets (id) ON DELETE CASCADE,
    position smallint NOT NULL,
    code     text     COLLATE "C" NOT NULL REFERENCES short_links (code),
    PRIMARY KEY (tweet_id, position)
);
CREATE INDEX tweet_links_code_idx ON tweet_links (code);

-- Visits per link per UTC day.
CREATE TABLE link_visits (
    code   text   COLLATE "C" NOT NULL REFERENCES short_links (code) ON DELETE CASCADE,
    day    date   NOT NULL,
    visits bigint NOT NULL CHECK (visits >= 0),
    PRIMARY KEY (code, day)
);

-- Batches of Redis visit counters already added above: a flusher that died
-- after its commit but before deleting the batch from Redis must not add it
-- twice. Rows older than a week are pruned by the flusher.
CREATE TABLE visit_flushes (
    batch_id   text        PRIMARY KEY,
    flushed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visit_flushes_flushed_at_idx ON visit_flushes (flushed_at);
