-- The highest outbox id the relay has moved to the Redis stream, raised in
-- the transaction that deletes the rows it sent. Redis keeps the same mark
-- next to the stream; a Redis restored from an old snapshot has a lower one,
-- which is how the relay and readers learn that events it had taken are gone
-- and that home timelines built from them are stale (chirp/persistence/currency.py).
CREATE TABLE outbox_relayed (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    through_id bigint  NOT NULL
);
