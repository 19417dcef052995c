-- The web console: staff sign in with a password (Argon2 hash), sessions
-- (only the hash of the cookie is stored), and every text version kept.

ALTER TABLE staff ADD COLUMN password_hash TEXT;
ALTER TABLE staff ADD COLUMN password_set_at INTEGER;

CREATE TABLE sessions (
    id_hash     TEXT    PRIMARY KEY,           -- sha256 of the cookie value
    staff_id    INTEGER NOT NULL REFERENCES staff (id),
    csrf        TEXT    NOT NULL,              -- the token every form carries
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_staff ON sessions (staff_id);

-- Each saved version of a step's text: who, when, what (diffs between them).
CREATE TABLE step_text_versions (
    id          INTEGER PRIMARY KEY,
    step_id     INTEGER NOT NULL REFERENCES campaign_steps (id),
    language    TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    changed_by  TEXT    NOT NULL,
    changed_at  INTEGER NOT NULL
);
CREATE INDEX step_text_versions_step ON step_text_versions (step_id, language, id);
