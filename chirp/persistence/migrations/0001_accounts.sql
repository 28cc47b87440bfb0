-- Accounts and their login tokens.

CREATE TABLE users (
    id            bigint      PRIMARY KEY,            -- Snowflake
    handle        text        NOT NULL,               -- as typed at sign-up
    display_name  text        NOT NULL,
    bio           text        NOT NULL DEFAULT '',
    password_hash text        NOT NULL,               -- argon2id, PHC string
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Handles are unique case-insensitively; lookups go through lower(handle).
CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle));

-- Tokens are stored as SHA-256 digests: a leaked table logs nobody in.
-- A row is a live session; logOut deletes it. Redis caches token -> user id.
CREATE TABLE auth_tokens (
    token_hash   bytea       PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX auth_tokens_user_id_idx ON auth_tokens (user_id);
