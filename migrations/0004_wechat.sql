-- WeChat: women bound to the Official Account, staff on WeCom, template
-- variants of campaign steps, and SMS fallbacks linked to the message they
-- stand in for.

-- Set when she scanned her QR code (or the roster gave her openid); set
-- again when she unfollows: WeChat sends stop, SMS carries on.
ALTER TABLE women ADD COLUMN wechat_bound_at INTEGER;
ALTER TABLE women ADD COLUMN wechat_unfollowed_at INTEGER;
CREATE INDEX women_openid ON women (wechat_openid) WHERE wechat_openid IS NOT NULL;

ALTER TABLE staff ADD COLUMN wecom_userid TEXT;

-- Which channel carried the message: sms, wechat or wecom (the existing
-- `channel` column, now filled when it is handed over). A message that
-- failed on WeChat or WeCom gets one SMS stand-in, pointing back at it.
ALTER TABLE outbox ADD COLUMN fallback_of INTEGER REFERENCES outbox (id);
CREATE UNIQUE INDEX outbox_fallback ON outbox (fallback_of) WHERE fallback_of IS NOT NULL;

-- A campaign step's WeChat template message: the account's template id,
-- an optional link, and its fields as a JSON array of [keyword, Tera
-- template] pairs. Validated when saved: each value renders to at most 20
-- characters without line breaks.
CREATE TABLE step_wechat (
    step_id      INTEGER PRIMARY KEY REFERENCES campaign_steps (id),
    template_id  TEXT    NOT NULL,
    url          TEXT,
    fields       TEXT    NOT NULL,
    updated_by   TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Callbacks that could not be read (malformed XML, a decryption that
-- fails), kept for an administrator to inspect; purged after 30 days.
CREATE TABLE webhook_rejects (
    id           INTEGER PRIMARY KEY,
    gateway      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    received_at  INTEGER NOT NULL
);
