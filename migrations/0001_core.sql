-- careminder core schema: women, pregnancies, visits, campaigns, the outbox.
-- Dates are ISO text (YYYY-MM-DD, sortable); instants are Unix seconds (UTC).

CREATE TABLE women (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    phone           TEXT    NOT NULL,              -- E.164
    wechat_openid   TEXT,
    language        TEXT    NOT NULL DEFAULT 'zh-CN',
    village         TEXT,
    officer_code    TEXT,
    consent_at      INTEGER,                        -- NULL: no consent, nothing is sent
    consent_source  TEXT,                           -- roster / api / cli / console
    consent_by      TEXT,
    opted_out_at    INTEGER,
    opted_out_via   TEXT,                           -- channel of the opt-out: sms, wechat, cli, api
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- Phones are shared in families: the same number may belong to two women,
-- but the same woman is not registered twice on one number.
CREATE UNIQUE INDEX women_phone_name ON women (phone, name);
CREATE INDEX women_officer ON women (officer_code);

-- Officers, supervisors and administrators.
CREATE TABLE staff (
    id              INTEGER PRIMARY KEY,
    code            TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    phone           TEXT,                           -- E.164
    wechat_openid   TEXT,
    role            TEXT    NOT NULL CHECK (role IN ('officer', 'supervisor', 'admin')),
    language        TEXT    NOT NULL DEFAULT 'zh-CN',
    village         TEXT,
    township        TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX staff_phone ON staff (phone);

CREATE TABLE care_plans (
    key         TEXT PRIMARY KEY,
    definition  TEXT NOT NULL,                      -- JSON of domain::CarePlan
    builtin     INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE pregnancies (
    id            INTEGER PRIMARY KEY,
    woman_id      INTEGER NOT NULL REFERENCES women (id),
    care_plan     TEXT    NOT NULL REFERENCES care_plans (key),
    lmp           TEXT    NOT NULL,
    edd           TEXT    NOT NULL,
    registered_on TEXT    NOT NULL,
    -- stale: 44 weeks after LMP with no delivery recorded; reminders stopped
    -- until her officer updates the record.
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'delivered', 'ended', 'stale')),
    delivered_on  TEXT,
    birth_place   TEXT,
    live_birth    INTEGER,
    ended_on      TEXT,
    -- Bumped by every date correction: part of the outbox keys, so a
    -- re-planned message never collides with the one it replaces.
    version       INTEGER NOT NULL DEFAULT 1,
    -- Firings before this instant are never sent (registration or correction time).
    plan_from     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX pregnancies_one_active ON pregnancies (woman_id) WHERE status = 'active';
CREATE INDEX pregnancies_woman ON pregnancies (woman_id);
CREATE INDEX pregnancies_lmp ON pregnancies (lmp) WHERE status = 'active';
CREATE INDEX pregnancies_delivered ON pregnancies (delivered_on) WHERE status = 'delivered';
CREATE INDEX pregnancies_created ON pregnancies (created_at);

CREATE TABLE visits (
    id            INTEGER PRIMARY KEY,
    pregnancy_id  INTEGER NOT NULL REFERENCES pregnancies (id),
    contact_key   TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    label_zh      TEXT    NOT NULL,
    label_en      TEXT    NOT NULL,
    window_start  TEXT    NOT NULL,
    due_on        TEXT    NOT NULL,
    window_end    TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'missed', 'cancelled')),
    done_on       TEXT,
    done_by       TEXT,                             -- staff code or channel
    done_place    TEXT,
    -- She replied that she will come: shown to her officer, not a visit record.
    confirmed_at  INTEGER,
    version       INTEGER NOT NULL DEFAULT 1,
    UNIQUE (pregnancy_id, contact_key)
);
-- The planner reads visits by date, never by pregnancy: cost follows what is due.
CREATE INDEX visits_due ON visits (due_on) WHERE status = 'pending';
CREATE INDEX visits_window_start ON visits (window_start) WHERE status = 'pending';
CREATE INDEX visits_window_end ON visits (window_end) WHERE status = 'pending';

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE campaign_steps (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id),
    key          TEXT    NOT NULL,
    anchor       TEXT    NOT NULL CHECK (anchor IN ('visit_due', 'visit_window_start', 'visit_window_end', 'lmp', 'delivery')),
    offset_days  INTEGER NOT NULL,
    send_time    TEXT    NOT NULL,                  -- HH:MM local
    grace_hours  INTEGER NOT NULL,
    -- Bumped when timing changes: part of the outbox keys (like RapidPro's fire_version).
    version      INTEGER NOT NULL DEFAULT 1,
    UNIQUE (campaign_id, key)
);

CREATE TABLE step_texts (
    step_id     INTEGER NOT NULL REFERENCES campaign_steps (id),
    language    TEXT    NOT NULL,
    body        TEXT    NOT NULL,                   -- Tera template
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (step_id, language)
);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    -- Why this message exists, e.g. 's3.1/v4411.1' (step 3 version 1, visit 4411 version 1).
    dedupe_key    TEXT    NOT NULL UNIQUE,
    -- Who it goes to: a woman, a staff member, or (replies to unknown
    -- senders) only an address in to_addr.
    woman_id      INTEGER REFERENCES women (id),
    staff_id      INTEGER REFERENCES staff (id),
    pregnancy_id  INTEGER REFERENCES pregnancies (id),
    visit_id      INTEGER REFERENCES visits (id),
    step_id       INTEGER REFERENCES campaign_steps (id),
    -- reminder: from a campaign step, needs consent; reply: an answer to a
    -- message she sent (keyword replies, an officer's answer); alert: to staff.
    kind          TEXT    NOT NULL DEFAULT 'reminder' CHECK (kind IN ('reminder', 'reply', 'alert')),
    -- The inbound message this answers, if any.
    in_reply_to   INTEGER,
    channel       TEXT    NOT NULL DEFAULT 'sms',
    status        TEXT    NOT NULL CHECK (status IN ('scheduled', 'claimed', 'accepted', 'sent', 'delivered', 'failed', 'cancelled', 'expired')),
    status_cause  TEXT,                             -- why the last transition happened
    send_at       INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_until   INTEGER,
    gateway       TEXT,
    provider_id   TEXT,
    to_addr       TEXT,                             -- filled when sent (given up front for unknown senders)
    body          TEXT,                             -- the text as sent (given up front for replies and alerts)
    parts         INTEGER,
    -- Pull gateways: when the phone first reported on it (it stops being offered).
    acked_at      INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (send_at) WHERE status = 'scheduled';
CREATE INDEX outbox_expiry ON outbox (expires_at) WHERE status = 'scheduled';
CREATE INDEX outbox_lease ON outbox (lease_until) WHERE status = 'claimed';
CREATE INDEX outbox_woman ON outbox (woman_id) WHERE woman_id IS NOT NULL;
CREATE INDEX outbox_staff ON outbox (staff_id) WHERE staff_id IS NOT NULL;
CREATE INDEX outbox_visit ON outbox (visit_id) WHERE visit_id IS NOT NULL;
CREATE INDEX outbox_provider ON outbox (gateway, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX outbox_pull ON outbox (gateway, id) WHERE status = 'accepted' AND acked_at IS NULL;

-- Every status a message takes, with its time and cause. Written by
-- triggers so no code path can change a status without leaving a trace.
CREATE TABLE outbox_events (
    id         INTEGER PRIMARY KEY,
    outbox_id  INTEGER NOT NULL REFERENCES outbox (id),
    status     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    cause      TEXT
);
CREATE INDEX outbox_events_message ON outbox_events (outbox_id);

CREATE TRIGGER outbox_insert_event AFTER INSERT ON outbox
BEGIN
    INSERT INTO outbox_events (outbox_id, status, at, cause)
    VALUES (NEW.id, NEW.status, NEW.updated_at, NEW.status_cause);
END;

CREATE TRIGGER outbox_status_event AFTER UPDATE OF status ON outbox
WHEN NEW.status <> OLD.status
BEGIN
    INSERT INTO outbox_events (outbox_id, status, at, cause)
    VALUES (NEW.id, NEW.status, NEW.updated_at, NEW.status_cause);
END;

-- Every message received, from any gateway, stored before it is
-- acknowledged and de-duplicated on the gateway's own id.
CREATE TABLE inbound (
    id            INTEGER PRIMARY KEY,
    gateway       TEXT    NOT NULL,
    provider_id   TEXT    NOT NULL,
    sender        TEXT    NOT NULL,                 -- E.164 number or channel address
    text          TEXT    NOT NULL,
    received_at   INTEGER NOT NULL,
    stored_at     INTEGER NOT NULL,
    woman_id      INTEGER REFERENCES women (id),
    staff_id      INTEGER REFERENCES staff (id),
    -- opt_out, opt_in, confirm, help, visit_report, question, unknown_sender
    intent        TEXT,
    -- What was done about it ("opted out; 3 messages cancelled").
    outcome       TEXT,
    processed_at  INTEGER,
    -- A question a person must answer, in this officer's inbox.
    needs_answer  INTEGER NOT NULL DEFAULT 0,
    assigned_to   TEXT,
    answered_at   INTEGER,
    answered_by   TEXT,
    UNIQUE (gateway, provider_id)
);
CREATE INDEX inbound_unprocessed ON inbound (id) WHERE processed_at IS NULL;
CREATE INDEX inbound_inbox ON inbound (assigned_to) WHERE needs_answer = 1 AND answered_at IS NULL;
CREATE INDEX inbound_woman ON inbound (woman_id) WHERE woman_id IS NOT NULL;
CREATE INDEX inbound_sender ON inbound (sender);

-- Webhook deliveries already applied, by the gateway's envelope id: a
-- redelivery is acknowledged and ignored.
CREATE TABLE webhook_events (
    gateway     TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (gateway, event_id)
) WITHOUT ROWID;

-- Small key/value state, such as the planner's watermark.
CREATE TABLE state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Administrative changes: who did what, when (imports, corrections, endings).
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT,
    detail  TEXT
);
