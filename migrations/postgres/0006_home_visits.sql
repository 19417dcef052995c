-- Twin of ../0006_home_visits.sql.
ALTER TABLE visits ADD COLUMN home    BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE visits ADD COLUMN task    BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE visits ADD COLUMN newborn BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE visits ADD COLUMN note    TEXT;

UPDATE visits SET newborn = TRUE WHERE contact_key LIKE 'newborn%';
UPDATE visits SET home = TRUE WHERE contact_key IN ('pnc-home', 'newborn-home');
