-- Twin of ../0009_national_figures.sql.
ALTER TABLE pregnancies ADD COLUMN live_born BIGINT;
ALTER TABLE pregnancies ADD COLUMN discharged_on DATE;
UPDATE pregnancies SET live_born = CASE WHEN live_birth THEN 1 ELSE 0 END WHERE live_birth IS NOT NULL;

UPDATE visits
   SET window_end = due_on + (due_on - window_start),
       window_start = due_on
 WHERE task AND status = 'pending' AND window_start < due_on;
