-- One row per match. A match id is unique within a game, whoever owns it, so that a
-- create retried after a timeout finds the first attempt instead of storing a second row.
CREATE TABLE IF NOT EXISTS matches (
    game        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    -- The `date` field as YYYY-MM-DD, copied out of `fields` for ordering.
    match_date  TEXT    NOT NULL,
    -- The catalog's encoded form as JSON text: integers keep every digit.
    fields      TEXT    NOT NULL,
    -- Milliseconds since the Unix epoch.
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (game, id)
) WITHOUT ROWID;

-- A player's listing of one game, newest match first.
CREATE INDEX IF NOT EXISTS matches_by_user
    ON matches (game, user_id, match_date DESC, created_at DESC);
