-- Twin of ../0008_instances.sql.
CREATE TABLE job_claims (
    job          TEXT    PRIMARY KEY,
    occurrence   BIGINT  NOT NULL,
    lease_until  BIGINT  NOT NULL
);

CREATE TABLE sign_in_failures (
    key       TEXT    PRIMARY KEY,
    failures  BIGINT  NOT NULL,
    last_at   BIGINT  NOT NULL
);
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_at);

CREATE TABLE gateway_budgets (
    gateway  TEXT    PRIMARY KEY,
    tat_us   BIGINT  NOT NULL
);
