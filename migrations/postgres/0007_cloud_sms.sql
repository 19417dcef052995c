-- Twin of ../0007_cloud_sms.sql.
CREATE TABLE step_sms_templates (
    step_id      BIGINT  NOT NULL REFERENCES campaign_steps (id),
    provider     TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    content      TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    promotional  BOOLEAN NOT NULL DEFAULT FALSE,
    updated_by   TEXT    NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (step_id, provider)
);
