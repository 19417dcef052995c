-- Risk-based care (孕产妇妊娠风险评估与管理工作规范, 2017): every assessment of a
-- pregnancy's risk with when, who and where it came from; her current grade
-- and case manager on the pregnancy; referrals to a higher level and their
-- follow-up; the delivery hospital chosen; and, for a visit whose name is
-- for her care team only (a newborn's step against mother-to-child
-- transmission), the words her care team reads beside the plain ones sent
-- to her.

CREATE TABLE risk_assessments (
    id            INTEGER PRIMARY KEY,
    pregnancy_id  INTEGER NOT NULL REFERENCES pregnancies (id),
    assessed_on   TEXT    NOT NULL,                 -- the day of the assessment
    colour        TEXT    CHECK (colour IN ('green', 'yellow', 'orange', 'red')),
    purple        INTEGER NOT NULL DEFAULT 0,       -- an infectious disease, beside the colour
    infections    TEXT,                             -- comma separated: hiv, syphilis, hepatitis_b, other
    reasons       TEXT,                             -- for her care team only
    postpartum    INTEGER NOT NULL DEFAULT 0,       -- assessed after the birth
    source        TEXT    NOT NULL,                 -- console, cli, api, import, sms
    recorded_by   TEXT    NOT NULL,
    recorded_at   INTEGER NOT NULL
);
CREATE INDEX risk_assessments_pregnancy ON risk_assessments (pregnancy_id, assessed_on, id);

-- Her current grade (the latest assessment), the day of her first one, her
-- case manager (a staff code) and delivery hospital.
ALTER TABLE pregnancies ADD COLUMN risk_colour TEXT;
ALTER TABLE pregnancies ADD COLUMN risk_purple INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pregnancies ADD COLUMN risk_infections TEXT;
ALTER TABLE pregnancies ADD COLUMN risk_assessed_on TEXT;
ALTER TABLE pregnancies ADD COLUMN first_assessed_on TEXT;
ALTER TABLE pregnancies ADD COLUMN ever_high_risk INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pregnancies ADD COLUMN case_manager TEXT;
ALTER TABLE pregnancies ADD COLUMN case_manager_since INTEGER;
ALTER TABLE pregnancies ADD COLUMN delivery_hospital TEXT;
CREATE INDEX pregnancies_case_manager ON pregnancies (case_manager) WHERE case_manager IS NOT NULL;

CREATE TABLE referrals (
    id              INTEGER PRIMARY KEY,
    pregnancy_id    INTEGER NOT NULL REFERENCES pregnancies (id),
    referred_on     TEXT    NOT NULL,
    to_facility     TEXT    NOT NULL,
    reason          TEXT,                           -- for her care team only
    recorded_by     TEXT    NOT NULL,
    recorded_at     INTEGER NOT NULL,
    followed_up_on  TEXT,                           -- the result learnt
    result          TEXT,
    followed_up_by  TEXT
);
CREATE INDEX referrals_pregnancy ON referrals (pregnancy_id);
CREATE INDEX referrals_open ON referrals (referred_on) WHERE followed_up_on IS NULL;

ALTER TABLE visits ADD COLUMN staff_label_zh TEXT;
ALTER TABLE visits ADD COLUMN staff_label_en TEXT;
