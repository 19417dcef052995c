-- Every `careminder serve` running on this database, with the settings
-- all of them must share (time zones, send window, gateways, routes,
-- jobs' times) as JSON. An instance renews `seen_at` while it runs and
-- deletes its row when it stops; one whose settings differ from a live
-- one's refuses to start, naming each setting that differs.
CREATE TABLE serving_instances (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    settings    TEXT    NOT NULL
);
CREATE INDEX serving_instances_seen ON serving_instances (seen_at);
