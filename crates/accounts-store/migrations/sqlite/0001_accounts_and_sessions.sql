-- Accounts and their sessions on the embedded store.
-- Times are seconds since the Unix epoch; ids are UUIDs in their hyphenated text form.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    -- The name as its owner wrote it, shown back to them.
    user_name TEXT NOT NULL,
    -- The normalised, case-folded form computed in Rust; this index decides who owns a name.
    canonical_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT accounts_canonical_name_key UNIQUE (canonical_name)
) STRICT;

CREATE TABLE sessions (
    -- SHA-256 of the token, never the token itself.
    token_digest TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
