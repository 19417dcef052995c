//! A pregnancy's risk: each assessment kept with when, who and where it
//! came from; her current grade, case manager and delivery hospital on the
//! pregnancy; referrals to a higher level and their follow-up; and what
//! her care team has still to do about them (derived, not stored: a task
//! is there while its facts say so).

use super::{on_db, on_read, ts, BeginWrite, Result, Store, StoreError};
use crate::domain::risk::Grade;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// An assessment to record.
#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub assessed_on: NaiveDate,
    pub grade: Grade,
    pub reasons: Option<String>,
    /// After the birth.
    pub postpartum: bool,
    /// console, cli, api, import, sms.
    pub source: String,
    pub recorded_by: String,
}

/// One assessment as kept.
#[derive(Debug, Clone, Serialize)]
pub struct AssessmentRow {
    pub id: i64,
    pub assessed_on: NaiveDate,
    pub grade: Grade,
    pub reasons: Option<String>,
    pub postpartum: bool,
    pub source: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A pregnancy's risk as it stands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RiskState {
    pub pregnancy_id: i64,
    pub grade: Grade,
    /// The day of her latest assessment.
    pub assessed_on: Option<NaiveDate>,
    /// The day of her first.
    pub first_assessed_on: Option<NaiveDate>,
    /// Graded orange, red or purple at any time in this pregnancy.
    pub ever_high_risk: bool,
    pub case_manager: Option<String>,
    pub delivery_hospital: Option<String>,
}

/// A referral to a higher-level facility.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReferralRow {
    pub id: i64,
    pub pregnancy_id: i64,
    pub referred_on: NaiveDate,
    pub to_facility: String,
    pub reason: Option<String>,
    pub recorded_by: String,
    pub followed_up_on: Option<NaiveDate>,
    pub result: Option<String>,
    pub followed_up_by: Option<String>,
}

/// Something her care team has to do about her risk, as the worklist
/// lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RiskTask {
    pub woman_id: i64,
    pub pregnancy_id: i64,
    pub name: String,
    pub village: Option<String>,
    pub officer_code: Option<String>,
    /// Her officer's township.
    pub township: Option<String>,
    pub risk_colour: Option<String>,
    pub risk_purple: bool,
    pub case_manager: Option<String>,
    /// assign_case_manager, delivery_hospital or referral.
    pub kind: String,
    /// The day it became due (or opens).
    pub since: NaiveDate,
    /// The referral it is about, if any.
    pub referral_id: Option<i64>,
    pub detail: Option<String>,
}

const STATE_COLUMNS: &str =
    "id, risk_colour, risk_purple, risk_infections, risk_assessed_on, first_assessed_on,
     ever_high_risk, case_manager, delivery_hospital";

type StateTuple = (
    i64,
    Option<String>,
    bool,
    Option<String>,
    Option<NaiveDate>,
    Option<NaiveDate>,
    bool,
    Option<String>,
    Option<String>,
);

fn state_of(r: StateTuple) -> RiskState {
    RiskState {
        pregnancy_id: r.0,
        grade: Grade::from_stored(r.1.as_deref(), r.2, r.3.as_deref()),
        assessed_on: r.4,
        first_assessed_on: r.5,
        ever_high_risk: r.6,
        case_manager: r.7,
        delivery_hospital: r.8,
    }
}

impl Store {
    /// Records an assessment and makes the latest one (by its day, then
    /// the order recorded) her current grade, in one transaction.
    pub async fn record_assessment(
        &self,
        pregnancy_id: i64,
        a: &NewAssessment,
        now: DateTime<Utc>,
    ) -> Result<RiskState> {
        let colour = a.grade.colour.map(|c| c.as_str());
        let infections = a.grade.infections_str();
        let sql = format!("SELECT {STATE_COLUMNS} FROM pregnancies WHERE id = $1");
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            sqlx::query(
                "INSERT INTO risk_assessments (pregnancy_id, assessed_on, colour, purple, infections, reasons,
                                               postpartum, source, recorded_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(pregnancy_id)
            .bind(a.assessed_on)
            .bind(colour)
            .bind(a.grade.purple)
            .bind(&infections)
            .bind(&a.reasons)
            .bind(a.postpartum)
            .bind(&a.source)
            .bind(&a.recorded_by)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            let latest: (Option<String>, bool, Option<String>, NaiveDate) = sqlx::query_as(
                "SELECT colour, purple, infections, assessed_on FROM risk_assessments
                 WHERE pregnancy_id = $1 ORDER BY assessed_on DESC, id DESC LIMIT 1",
            )
            .bind(pregnancy_id)
            .fetch_one(&mut *tx)
            .await?;
            let current = Grade::from_stored(latest.0.as_deref(), latest.1, latest.2.as_deref());
            let r = sqlx::query(
                "UPDATE pregnancies SET risk_colour = $1, risk_purple = $2, risk_infections = $3,
                        risk_assessed_on = $4,
                        first_assessed_on = CASE WHEN first_assessed_on IS NULL OR first_assessed_on > $5
                                                 THEN $5 ELSE first_assessed_on END,
                        ever_high_risk = (ever_high_risk OR $6), updated_at = $7
                 WHERE id = $8",
            )
            .bind(latest.0)
            .bind(latest.1)
            .bind(latest.2)
            .bind(latest.3)
            .bind(a.assessed_on)
            .bind(a.grade.managed() || current.managed())
            .bind(ts(now))
            .bind(pregnancy_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("pregnancy {pregnancy_id}")));
            }
            let state: StateTuple = sqlx::query_as(&sql)
                .bind(pregnancy_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            state_of(state)
        }))
    }

    /// The day of the pregnancy's birth, if one is recorded.
    pub async fn delivered_on(&self, pregnancy_id: i64) -> Result<Option<NaiveDate>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar::<_, Option<NaiveDate>>(
                "SELECT delivered_on FROM pregnancies WHERE id = $1",
            )
            .bind(pregnancy_id)
            .fetch_optional(db)
            .await?
            .flatten()
        }))
    }

    /// Her pregnancy's risk as it stands.
    pub async fn risk_state(&self, pregnancy_id: i64) -> Result<RiskState> {
        let sql = format!("SELECT {STATE_COLUMNS} FROM pregnancies WHERE id = $1");
        let r: Option<StateTuple> = on_db!(self, db, {
            sqlx::query_as(&sql)
                .bind(pregnancy_id)
                .fetch_optional(db)
                .await?
        });
        r.map(state_of)
            .ok_or_else(|| StoreError::NotFound(format!("pregnancy {pregnancy_id}")))
    }

    /// Every assessment of a pregnancy, oldest first.
    pub async fn risk_history(&self, pregnancy_id: i64) -> Result<Vec<AssessmentRow>> {
        type Row = (
            i64,
            NaiveDate,
            Option<String>,
            bool,
            Option<String>,
            Option<String>,
            bool,
            String,
            String,
            i64,
        );
        let rows: Vec<Row> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT id, assessed_on, colour, purple, infections, reasons, postpartum, source, recorded_by,
                        recorded_at
                 FROM risk_assessments WHERE pregnancy_id = $1 ORDER BY assessed_on, id",
            )
            .bind(pregnancy_id)
            .fetch_all(db)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| AssessmentRow {
                id: r.0,
                assessed_on: r.1,
                grade: Grade::from_stored(r.2.as_deref(), r.3, r.4.as_deref()),
                reasons: r.5,
                postpartum: r.6,
                source: r.7,
                recorded_by: r.8,
                recorded_at: super::from_ts(r.9),
            })
            .collect())
    }

    /// Names her case manager.
    pub async fn set_case_manager(
        &self,
        pregnancy_id: i64,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let n = on_db!(self, db, {
            sqlx::query(
                "UPDATE pregnancies SET case_manager = $1, case_manager_since = $2, updated_at = $2 WHERE id = $3",
            )
            .bind(code)
            .bind(ts(now))
            .bind(pregnancy_id)
            .execute(db)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound(format!("pregnancy {pregnancy_id}")));
        }
        Ok(())
    }

    /// Records the hospital she will deliver at.
    pub async fn set_delivery_hospital(
        &self,
        pregnancy_id: i64,
        hospital: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let n = on_db!(self, db, {
            sqlx::query(
                "UPDATE pregnancies SET delivery_hospital = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(hospital)
            .bind(ts(now))
            .bind(pregnancy_id)
            .execute(db)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound(format!("pregnancy {pregnancy_id}")));
        }
        Ok(())
    }

    /// Records a referral; returns its id.
    pub async fn add_referral(
        &self,
        pregnancy_id: i64,
        referred_on: NaiveDate,
        to_facility: &str,
        reason: Option<&str>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO referrals (pregnancy_id, referred_on, to_facility, reason, recorded_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(pregnancy_id)
            .bind(referred_on)
            .bind(to_facility)
            .bind(reason)
            .bind(by)
            .bind(ts(now))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        }))
    }

    /// Records what a referral came to. `None` when it was followed up already.
    pub async fn follow_up_referral(
        &self,
        referral_id: i64,
        on: NaiveDate,
        result: &str,
        by: &str,
    ) -> Result<Option<()>> {
        let n = on_db!(self, db, {
            sqlx::query(
                "UPDATE referrals SET followed_up_on = $1, result = $2, followed_up_by = $3
                 WHERE id = $4 AND followed_up_on IS NULL",
            )
            .bind(on)
            .bind(result)
            .bind(by)
            .bind(referral_id)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok((n > 0).then_some(()))
    }

    pub async fn referral(&self, id: i64) -> Result<ReferralRow> {
        on_db!(self, db, {
            sqlx::query_as::<_, ReferralRow>(
                "SELECT id, pregnancy_id, referred_on, to_facility, reason, recorded_by, followed_up_on, result,
                        followed_up_by FROM referrals WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(db)
            .await?
        })
        .ok_or_else(|| StoreError::NotFound(format!("referral {id}")))
    }

    pub async fn referrals_of(&self, pregnancy_id: i64) -> Result<Vec<ReferralRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, ReferralRow>(
                "SELECT id, pregnancy_id, referred_on, to_facility, reason, recorded_by, followed_up_on, result,
                        followed_up_by FROM referrals WHERE pregnancy_id = $1 ORDER BY referred_on, id",
            )
            .bind(pregnancy_id)
            .fetch_all(db)
            .await?
        }))
    }

    /// What the care teams have to do about risk as of `today`:
    /// high-risk women with no case manager; women from 28 weeks with no
    /// delivery hospital chosen; referrals whose result is not yet known
    /// (`since` is the day it was made). Current pregnancies only (a
    /// delivered one up to 42 days after the birth).
    pub async fn risk_tasks(&self, today: NaiveDate) -> Result<Vec<RiskTask>> {
        let d = self.dialect();
        let since_birth = d.days_between("$1", "p.delivered_on");
        let ga = d.days_between("$1", "p.lmp");
        let from_28w = d.date_plus_days("p.lmp", 28 * 7);
        let base = "w.id AS woman_id, p.id AS pregnancy_id, w.name, w.village, w.officer_code, st.township,
                    p.risk_colour, p.risk_purple, p.case_manager";
        let from = "FROM pregnancies p JOIN women w ON w.id = p.woman_id
                    LEFT JOIN staff st ON st.code = w.officer_code";
        let current = format!(
            "w.erased_at IS NULL AND (p.status IN ('active', 'stale')
                  OR (p.status = 'delivered' AND {since_birth} <= 42))"
        );
        let sql = format!(
            "SELECT {base}, 'assign_case_manager' AS kind, COALESCE(p.risk_assessed_on, $1) AS since,
                    CAST(NULL AS BIGINT) AS referral_id, CAST(NULL AS TEXT) AS detail
             {from} WHERE {current} AND p.case_manager IS NULL
               AND (p.risk_colour IN ('orange', 'red') OR p.risk_purple = TRUE)
             UNION ALL
             SELECT {base}, 'delivery_hospital' AS kind, {from_28w} AS since,
                    CAST(NULL AS BIGINT) AS referral_id, CAST(NULL AS TEXT) AS detail
             {from} WHERE w.erased_at IS NULL AND p.status = 'active' AND p.delivery_hospital IS NULL
               AND {ga} >= 196
             UNION ALL
             SELECT {base}, 'referral' AS kind, r.referred_on AS since, r.id AS referral_id,
                    r.to_facility AS detail
             {from} JOIN referrals r ON r.pregnancy_id = p.id
             WHERE {current} AND r.followed_up_on IS NULL
             ORDER BY since, pregnancy_id"
        );
        Ok(on_read!(self, db, {
            sqlx::query_as::<_, RiskTask>(&sql)
                .bind(today)
                .fetch_all(db)
                .await?
        }))
    }
}
