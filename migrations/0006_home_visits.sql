-- Visits done at home by the officer (the postpartum and newborn home
-- visits), the officer's own monthly home visit (a task on her worklist:
-- no reminder goes to the woman for it), and a free-text note kept with a
-- visit record.
ALTER TABLE visits ADD COLUMN home    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN task    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN newborn INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN note    TEXT;

UPDATE visits SET newborn = 1 WHERE contact_key LIKE 'newborn%';
UPDATE visits SET home = 1 WHERE contact_key IN ('pnc-home', 'newborn-home');
