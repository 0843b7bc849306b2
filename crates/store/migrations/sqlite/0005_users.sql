-- Access to `hyalto serve`: local users, their browser sessions and API tokens, and the history
-- of record refreshes the server runs in the background.
--
-- No secret is kept in a form that could be used if the database leaked: passwords are argon2
-- hashes (PHC strings), and session and API tokens are kept as the SHA-256 of the token, which
-- is enough because the tokens themselves are 256 random bits.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    -- What the user types to log in; unique whatever the case.
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- The argon2 hash of the password, in PHC string format (`$argon2id$v=19$...`).
    password_hash TEXT NOT NULL,
    -- 1 when the user may change the ConnectWise connection.
    is_admin INTEGER NOT NULL CHECK (is_admin IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

-- Browser sessions. A session ends at expires_at or when the user logs out (the row is deleted).
CREATE TABLE sessions (
    -- Lowercase hex SHA-256 of the token held in the session cookie.
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The token every form of this session must send back; it is not a credential on its own.
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Tokens for the REST API (`Authorization: Bearer ...`). They do not expire; a user names each
-- one so that it can be told apart later.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- Lowercase hex SHA-256 of the token.
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    UNIQUE (user_id, name)
) STRICT;

-- Each pull of the ConnectWise record cache started by the server, so the status page can show
-- the last one and its error after a restart.
CREATE TABLE cw_refreshes (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    -- NULL while running (or when the process stopped before it ended).
    finished_at TEXT,
    -- How many records were cached, when it succeeded.
    records INTEGER,
    -- What went wrong, as shown to the user, when it failed.
    error_message TEXT,
    CHECK (records IS NULL OR error_message IS NULL)
) STRICT;
