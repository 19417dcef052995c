-- Records that arrive from elsewhere (issue 33): a woman's resident ID
-- card number (居民身份证号, GB 11643-1999, checked before it is stored;
-- shown masked, used to recognise her in a hospital's or a clinic's
-- register, never put in a message), and the register rows that matched
-- no one or more than one woman, waiting for a person to decide.

ALTER TABLE women ADD COLUMN id_card TEXT;
CREATE UNIQUE INDEX women_id_card ON women (id_card) WHERE id_card IS NOT NULL;

CREATE TABLE register_rows (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('delivery', 'checkup')),
    source       TEXT    NOT NULL,                 -- the file's name as uploaded
    line         INTEGER NOT NULL,                 -- its row in that file (header = 1)
    fingerprint  TEXT    NOT NULL,                 -- the row's fields, normalised: the same row imported again is known
    fields       TEXT    NOT NULL,                 -- the row as read, JSON
    reason       TEXT    NOT NULL,                 -- why it waits: no one, or several women, matched
    status       TEXT    NOT NULL DEFAULT 'waiting'
                 CHECK (status IN ('waiting', 'matched', 'registered', 'dismissed')),
    woman_id     INTEGER REFERENCES women (id),    -- whom it was matched to or registered as
    resolved_by  TEXT,
    resolved_at  INTEGER,
    note         TEXT,                             -- the reason given when it was resolved
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX register_rows_fingerprint ON register_rows (kind, fingerprint);
CREATE INDEX register_rows_waiting ON register_rows (created_at) WHERE status = 'waiting';
