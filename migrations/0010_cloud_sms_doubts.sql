-- China's cloud SMS: what a provider's answer or push left unsettled.

-- A status report pushed for a send whose hand-over is not recorded yet
-- (Tencent's sid, Aliyun's BizId/number for a batch): kept, and applied
-- as soon as a send's result names that provider id. Tencent pushes up to
-- 100 reports at once and retries a push only twice, so a report is never
-- left to a retry. Reports a week old are forgotten.
CREATE TABLE early_reports (
    gateway      TEXT    NOT NULL,
    provider_id  TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('accepted', 'sent', 'delivered', 'failed')),
    reason       TEXT,
    at           INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (gateway, provider_id)
);
CREATE INDEX early_reports_received ON early_reports (received_at);

-- A send whose answer was lost after the request left (a timeout, a
-- dropped connection): the provider may have taken it. It is not sent
-- again until the provider's records settle it; `since` is when the
-- first such attempt began.
CREATE TABLE sends_in_doubt (
    gateway      TEXT    NOT NULL,
    message_id   INTEGER NOT NULL,
    since        INTEGER NOT NULL,
    PRIMARY KEY (gateway, message_id)
);
