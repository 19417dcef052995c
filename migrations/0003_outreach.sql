-- Outreach: broadcasts to an audience, and week-by-week series. Outreach
-- messages wait behind reminders and under a per-woman frequency cap.

-- Series steps go out on a day of the week (0 = Monday .. 6 = Sunday), the
-- first such day on or after their anchor date plus offset.
ALTER TABLE campaign_steps ADD COLUMN weekday INTEGER CHECK (weekday BETWEEN 0 AND 6);
-- A campaign whose messages are outreach (capped, after reminders).
ALTER TABLE campaigns ADD COLUMN outreach INTEGER NOT NULL DEFAULT 0;

CREATE TABLE broadcasts (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'stopped')),
    -- JSON of store::Audience: areas, stage, language, channel, attendance.
    audience      TEXT    NOT NULL,
    -- Its texts: the one step of a campaign of its own (never planned by
    -- the planner), so broadcast texts are validated, versioned and
    -- rendered like every other text.
    step_id       INTEGER REFERENCES campaign_steps (id),
    -- One-off: when it goes out. Recurring: when it starts.
    send_at       INTEGER NOT NULL,
    -- Recurring: a cron expression in local time (seconds first), and the
    -- instant up to which its occurrences are planned.
    cron          TEXT,
    planned_until INTEGER,
    -- Hours after each sending it stops being worth sending.
    grace_hours   INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    published_at  INTEGER,
    stopped_at    INTEGER,
    updated_at    INTEGER NOT NULL
);

ALTER TABLE outbox ADD COLUMN broadcast_id INTEGER REFERENCES broadcasts (id);
ALTER TABLE outbox ADD COLUMN outreach INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_broadcast ON outbox (broadcast_id) WHERE broadcast_id IS NOT NULL;
-- Due messages by lane: reminders, replies and alerts (0) go before outreach (1).
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (outreach, send_at) WHERE status = 'scheduled';
