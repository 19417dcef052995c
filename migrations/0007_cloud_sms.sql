-- China's cloud SMS providers (Aliyun, Tencent Cloud) send only templates
-- they approved: a step's template for each provider, with the approved
-- content (to check every variable is mapped and the text fits) and the
-- careminder variable behind each of the template's variables.
CREATE TABLE step_sms_templates (
    step_id      INTEGER NOT NULL REFERENCES campaign_steps (id),
    provider     TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    content      TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    promotional  INTEGER NOT NULL DEFAULT 0,
    updated_by   TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (step_id, provider)
);
