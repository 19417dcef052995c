-- State every process on one database shares (`serve` and a `tick`
-- beside it, or several instances).

-- Recurring jobs (digests, summaries) run once per occurrence however many
-- processes tick: the first to claim an occurrence runs it; a claim
-- whose process died is taken over once its lease has passed. Done
-- occurrences keep their claim with lease_until at the far future.
CREATE TABLE job_claims (
    job          TEXT    PRIMARY KEY,
    occurrence   INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL
);

-- Failed console sign-ins, per staff code ('code:V001-O1') and per client
-- address ('addr:10.0.0.7'): every process on the database sees the same
-- counts, and a restart forgets none. Rows an hour old are forgotten.
CREATE TABLE sign_in_failures (
    key       TEXT    PRIMARY KEY,
    failures  INTEGER NOT NULL,
    last_at   INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_at);

-- Each rate-limited gateway's sending budget (GCRA): the instant, in
-- microseconds, at which its budget is next wholly spent. Every process
-- takes its SMS parts from here, so together they keep to the limit.
CREATE TABLE gateway_budgets (
    gateway  TEXT    PRIMARY KEY,
    tat_us   INTEGER NOT NULL
);
