-- Accounts and their sessions on PostgreSQL.
-- Times are seconds since the Unix epoch, as on the embedded store.
CREATE TABLE accounts (
    id UUID PRIMARY KEY,
    -- The name as its owner wrote it, shown back to them.
    user_name TEXT NOT NULL,
    -- The normalised, case-folded form computed in Rust; this index decides who owns a name.
    canonical_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT accounts_canonical_name_key UNIQUE (canonical_name)
);

CREATE TABLE sessions (
    -- SHA-256 of the token, never the token itself.
    token_digest TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
