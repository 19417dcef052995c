-- Twin of ../0011_serving_instances.sql.
CREATE TABLE serving_instances (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL,
    seen_at     BIGINT  NOT NULL,
    settings    TEXT    NOT NULL
);
CREATE INDEX serving_instances_seen ON serving_instances (seen_at);
