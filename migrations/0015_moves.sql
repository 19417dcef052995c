-- Women who move (issue 33). Every move a woman makes, within the county
-- (her village and officer change; her history stays) or out of it (her
-- care here ends as "moved away" with where she went). A figure counts an
-- event in the area she belonged to on its day: the area before the
-- first move after that day, else her area now.
CREATE TABLE woman_moves (
    id             INTEGER PRIMARY KEY,
    woman_id       INTEGER NOT NULL REFERENCES women (id),
    pregnancy_id   INTEGER REFERENCES pregnancies (id),
    moved_on       TEXT    NOT NULL,
    within_county  INTEGER NOT NULL,
    from_village   TEXT,
    from_officer   TEXT,
    to_village     TEXT,
    to_officer     TEXT,
    destination    TEXT,                            -- another county: where she went, as told
    recorded_by    TEXT    NOT NULL,
    recorded_at    INTEGER NOT NULL
);
CREATE INDEX woman_moves_woman ON woman_moves (woman_id, moved_on, id);
CREATE INDEX woman_moves_day ON woman_moves (moved_on);

-- Her care here ended because she moved to another county (status 'ended').
ALTER TABLE pregnancies ADD COLUMN moved_away_on TEXT;
ALTER TABLE pregnancies ADD COLUMN moved_to TEXT;

-- Referral summaries a receiving county imported: one woman per summary.
CREATE TABLE transfers_in (
    transfer_id   TEXT    PRIMARY KEY,              -- the summary's own id
    woman_id      INTEGER NOT NULL REFERENCES women (id),
    pregnancy_id  INTEGER NOT NULL REFERENCES pregnancies (id),
    from_county   TEXT    NOT NULL,
    imported_by   TEXT    NOT NULL,
    imported_at   INTEGER NOT NULL
);
