-- The national maternal-care figures divide by live births and count the
-- postpartum visit from discharge: a birth records how many babies were
-- born alive (twins: 2; a stillbirth: 0) and, when known, the day she left
-- hospital.
ALTER TABLE pregnancies ADD COLUMN live_born INTEGER;
ALTER TABLE pregnancies ADD COLUMN discharged_on TEXT;
UPDATE pregnancies SET live_born = CASE WHEN live_birth THEN 1 ELSE 0 END WHERE live_birth IS NOT NULL;

-- The officer's monthly home visits get periods that follow one another
-- instead of overlapping: a visit's period runs from its date until the day
-- before the next one's (its date plus the interval, less a day). The
-- interval is read off the old window, which opened `every - 1` days
-- before the date. Visits already done or missed keep what they had.
UPDATE visits
   SET window_end = date(due_on, '+' || CAST(julianday(due_on) - julianday(window_start) AS INTEGER) || ' days'),
       window_start = due_on
 WHERE task = 1 AND status = 'pending' AND window_start < due_on;
