-- Saved inventory sources: vCenters (and later other systems) hyalto collects from itself, by
-- `hyalto inventory collect --source NAME`, `hyalto sync --collect` and the server's schedule.
--
-- The name is also the inventory source id its snapshots are recorded under. The password is
-- sealed with the key-encryption key like the ConnectWise private key (nonce, ciphertext and
-- tag), so the database alone does not give it away.

CREATE TABLE saved_sources (
    name TEXT PRIMARY KEY,
    -- What kind of system it is; only 'vsphere' today.
    kind TEXT NOT NULL CHECK (kind IN ('vsphere')),
    -- The address as the user gave it, such as https://vc.example.com/sdk.
    url TEXT NOT NULL,
    username TEXT NOT NULL,
    password_sealed BLOB NOT NULL,
    -- A PEM file of extra trusted certificate authorities, or NULL.
    ca_file TEXT,
    -- 1 when certificate checks are off (lab systems only).
    insecure INTEGER NOT NULL CHECK (insecure IN (0, 1)),
    -- The ownership rules as TOML text, kept as given so they read the same back.
    rules TEXT NOT NULL,
    -- How often the server collects it, in seconds.
    interval_secs INTEGER NOT NULL CHECK (interval_secs > 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- The last collection attempt: when it ended, and its error (NULL when it succeeded, even
    -- if the snapshot was incomplete; the snapshot's own state says that).
    last_attempt_at TEXT,
    last_error TEXT
) STRICT;
