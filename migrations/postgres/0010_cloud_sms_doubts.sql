-- Twin of ../0010_cloud_sms_doubts.sql.
CREATE TABLE early_reports (
    gateway      TEXT    NOT NULL,
    provider_id  TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('accepted', 'sent', 'delivered', 'failed')),
    reason       TEXT,
    at           BIGINT  NOT NULL,
    received_at  BIGINT  NOT NULL,
    PRIMARY KEY (gateway, provider_id)
);
CREATE INDEX early_reports_received ON early_reports (received_at);

CREATE TABLE sends_in_doubt (
    gateway      TEXT    NOT NULL,
    message_id   BIGINT  NOT NULL,
    since        BIGINT  NOT NULL,
    PRIMARY KEY (gateway, message_id)
);
