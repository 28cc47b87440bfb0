-- Transactional outbox: events about writes that change feeds.
--
-- A row is written by the same statement or transaction as the write it
-- describes, so an event exists exactly when its write committed. The relay
-- moves rows to the Redis stream and deletes them; if it dies in between, the
-- rows are sent again (consumers are idempotent).
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    kind       text        NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Wake the relay at commit instead of having it poll.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chirp_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
