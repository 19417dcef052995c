//! Campaigns, their steps and the per-language texts of each step.

use super::{on_db, on_read, ts, BeginWrite, Result, Store, StoreError};
use crate::domain::schedule::{parse_hhmm, Trigger, TriggerAnchor};
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

/// A step of an active campaign, with its timing.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub id: i64,
    pub campaign_key: String,
    pub key: String,
    pub version: i64,
    /// Outreach (a series): capped per woman, sent after reminders.
    pub outreach: bool,
    pub trigger: Trigger,
}

pub use crate::render::{SmsVariant, StepText, WechatVariant};

/// A step as seeded from the defaults.
pub struct StepSeed<'a> {
    pub key: &'a str,
    pub anchor: TriggerAnchor,
    pub offset_days: i64,
    pub send_time: &'a str,
    pub grace_hours: i64,
    /// 0 = Monday .. 6 = Sunday: the series day of the week.
    pub weekday: Option<u8>,
    pub texts: Vec<(&'a str, &'a str)>,
}

impl Store {
    /// Creates a campaign with its steps unless one with `key` exists already
    /// (an administrator's edits are never overwritten by the defaults).
    pub async fn ensure_campaign(
        &self,
        key: &str,
        name: &str,
        outreach: bool,
        steps: &[StepSeed<'_>],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM campaigns WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                return Ok(false);
            }
            // Two instances seeding at once: the second finds the first's.
            let cid: Option<i64> = sqlx::query_scalar(
                "INSERT INTO campaigns (key, name, outreach, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (key) DO NOTHING RETURNING id",
            )
            .bind(key)
            .bind(name)
            .bind(outreach)
            .bind(ts(now))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(cid) = cid else {
                return Ok(false);
            };
            for s in steps {
                insert_step!(tx, cid, s, now);
            }
            bump_texts_version!(tx);
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Adds a step (with its texts) to an existing campaign.
    pub async fn add_step(
        &self,
        campaign: &str,
        s: &StepSeed<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let conflict = |e: StoreError| match e {
            StoreError::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                StoreError::Conflict(format!("step {} exists already", s.key))
            }
            e => e,
        };
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let cid: Option<i64> = sqlx::query_scalar("SELECT id FROM campaigns WHERE key = $1")
                .bind(campaign)
                .fetch_optional(&mut *tx)
                .await?;
            let cid = cid.ok_or_else(|| StoreError::NotFound(format!("campaign {campaign}")))?;
            let sid = async {
                let sid = insert_step!(tx, cid, s, now);
                Ok::<_, StoreError>(sid)
            }
            .await
            .map_err(conflict)?;
            bump_texts_version!(tx);
            tx.commit().await?;
            Ok(sid)
        })
    }

    /// Pauses, resumes or archives a campaign. Pausing keeps what is
    /// planned; the planner plans nothing more for it until resumed.
    pub async fn set_campaign_status(
        &self,
        key: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let n = on_db!(self, db, {
            sqlx::query("UPDATE campaigns SET status = $1, updated_at = $2 WHERE key = $3")
                .bind(status)
                .bind(ts(now))
                .bind(key)
                .execute(db)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound(format!("campaign {key}")));
        }
        Ok(())
    }

    /// Every campaign: key, name, status, whether it is outreach, its steps.
    pub async fn campaigns(&self) -> Result<Vec<(String, String, String, bool, i64)>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(
                "SELECT c.key, c.name, c.status, c.outreach, (SELECT COUNT(*) FROM campaign_steps s WHERE s.campaign_id = c.id)
                 FROM campaigns c ORDER BY c.id",
            )
            .fetch_all(db)
            .await?
        }))
    }

    /// Steps of every active campaign.
    pub async fn active_steps(&self) -> Result<Vec<StepRow>> {
        on_read!(self, db, {
            sqlx::query(
                "SELECT s.id, c.key AS campaign_key, c.outreach, s.key, s.version, s.anchor, s.offset_days, s.send_time,
                        s.grace_hours, s.weekday
                 FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id
                 WHERE c.status = 'active' ORDER BY s.id",
            )
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                let anchor: String = r.get("anchor");
                let send_time: String = r.get("send_time");
                let trigger = Trigger {
                    anchor: anchor.parse().map_err(StoreError::Corrupt)?,
                    offset_days: r.get("offset_days"),
                    at: parse_hhmm(&send_time)
                        .ok_or_else(|| StoreError::Corrupt(format!("send_time {send_time:?}")))?,
                    grace: Duration::hours(r.get("grace_hours")),
                    weekday: r
                        .get::<Option<i64>, _>("weekday")
                        .map(|d| u8::try_from(d).map_err(|_| ()).and_then(|d| chrono::Weekday::try_from(d).map_err(|_| ())))
                        .transpose()
                        .map_err(|_| StoreError::Corrupt("weekday".into()))?,
                };
                Ok(StepRow {
                    id: r.get("id"),
                    campaign_key: r.get("campaign_key"),
                    key: r.get("key"),
                    version: r.get("version"),
                    outreach: r.get("outreach"),
                    trigger,
                })
            })
            .collect()
        })
    }

    /// Every step text, for the renderer.
    pub async fn step_texts(&self) -> Result<Vec<StepText>> {
        let rows: Vec<(i64, String, String)> = on_read!(self, db, {
            sqlx::query_as("SELECT step_id, language, body FROM step_texts")
                .fetch_all(db)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(step_id, language, body)| StepText {
                step_id,
                language,
                body,
            })
            .collect())
    }

    /// Changes one text. The caller validates it first (see `render`).
    pub async fn set_step_text(
        &self,
        step_id: i64,
        language: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            upsert_step_text!(tx, step_id, language, body, now);
            bump_texts_version!(tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Saves a step text and keeps the version, in one transaction. A text
    /// with no version yet (a built-in one as seeded, or one saved before
    /// versions were kept) first gets its current words as its first
    /// version, by `careminder` when it was last changed, so the history's
    /// first diff shows what changed rather than the whole text as new.
    pub async fn save_step_text(
        &self,
        step_id: i64,
        language: &str,
        body: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            sqlx::query(
                "INSERT INTO step_text_versions (step_id, language, body, changed_by, changed_at)
                 SELECT step_id, language, body, 'careminder', updated_at FROM step_texts
                 WHERE step_id = $1 AND language = $2 AND body <> $3
                   AND NOT EXISTS (SELECT 1 FROM step_text_versions WHERE step_id = $1 AND language = $2)",
            )
            .bind(step_id)
            .bind(language)
            .bind(body)
            .execute(&mut *tx)
            .await?;
            upsert_step_text!(tx, step_id, language, body, now);
            sqlx::query(
                "INSERT INTO step_text_versions (step_id, language, body, changed_by, changed_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(step_id)
            .bind(language)
            .bind(body)
            .bind(by)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            bump_texts_version!(tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every step of every campaign, for naming steps in words: (campaign
    /// key, campaign name, step key, anchor, offset in days).
    pub async fn step_list(&self) -> Result<Vec<(String, String, String, String, i64)>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(
                "SELECT c.key, c.name, s.key, s.anchor, s.offset_days
                 FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id ORDER BY s.id",
            )
            .fetch_all(db)
            .await?
        }))
    }

    /// Every step's WeChat variant, for the renderer.
    pub async fn wechat_variants(&self) -> Result<Vec<WechatVariant>> {
        let rows: Vec<(i64, String, Option<String>, String)> = on_read!(self, db, {
            sqlx::query_as("SELECT step_id, template_id, url, fields FROM step_wechat")
                .fetch_all(db)
                .await?
        });
        rows.into_iter()
            .map(|(step_id, template_id, url, fields)| {
                Ok(WechatVariant {
                    step_id,
                    template_id,
                    url,
                    fields: serde_json::from_str(&fields).map_err(|e| {
                        StoreError::Corrupt(format!("step_wechat {step_id}: fields: {e}"))
                    })?,
                })
            })
            .collect()
    }

    /// Saves (or, with `None`, removes) a step's WeChat variant. The caller
    /// validates it first (see `render::validate_wechat`).
    pub async fn set_wechat_variant(
        &self,
        step_id: i64,
        v: Option<&WechatVariant>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            match v {
                Some(v) => {
                    sqlx::query(
                    "INSERT INTO step_wechat (step_id, template_id, url, fields, updated_by, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (step_id) DO UPDATE SET template_id = excluded.template_id, url = excluded.url,
                         fields = excluded.fields, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                )
                .bind(step_id)
                .bind(&v.template_id)
                .bind(&v.url)
                .bind(serde_json::to_string(&v.fields).expect("json"))
                .bind(by)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                }
                None => {
                    sqlx::query("DELETE FROM step_wechat WHERE step_id = $1")
                        .bind(step_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            bump_texts_version!(tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every step's cloud-SMS templates, for the renderer.
    pub async fn sms_variants(&self) -> Result<Vec<SmsVariant>> {
        let rows: Vec<(
            i64,
            crate::domain::GatewayKind,
            String,
            String,
            String,
            bool,
        )> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT step_id, provider, code, content, params, promotional
                     FROM step_sms_templates ORDER BY step_id, provider",
            )
            .fetch_all(db)
            .await?
        });
        rows.into_iter()
            .map(|(step_id, provider, code, content, params, promotional)| {
                Ok(SmsVariant {
                    step_id,
                    provider,
                    code,
                    content,
                    params: serde_json::from_str(&params).map_err(|e| {
                        StoreError::Corrupt(format!("step_sms_templates {step_id}: params: {e}"))
                    })?,
                    promotional,
                })
            })
            .collect()
    }

    /// Saves (or, with `None`, removes) a step's template for `provider`.
    /// The caller validates it first (see `render::validate_sms`).
    pub async fn set_sms_variant(
        &self,
        step_id: i64,
        provider: crate::domain::GatewayKind,
        v: Option<&SmsVariant>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            match v {
                Some(v) => {
                    sqlx::query(
                    "INSERT INTO step_sms_templates
                         (step_id, provider, code, content, params, promotional, updated_by, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (step_id, provider) DO UPDATE SET code = excluded.code,
                         content = excluded.content, params = excluded.params,
                         promotional = excluded.promotional, updated_by = excluded.updated_by,
                         updated_at = excluded.updated_at",
                )
                .bind(step_id)
                .bind(provider)
                .bind(v.code.trim())
                .bind(&v.content)
                .bind(serde_json::to_string(&v.params).expect("json"))
                .bind(v.promotional)
                .bind(by)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                }
                None => {
                    sqlx::query(
                        "DELETE FROM step_sms_templates WHERE step_id = $1 AND provider = $2",
                    )
                    .bind(step_id)
                    .bind(provider)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            bump_texts_version!(tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The steps of every active campaign, or of `campaign` whatever its state, that
    /// have no template for `provider`: (campaign key, step key, outreach).
    pub async fn steps_without_sms_template(
        &self,
        campaign: Option<&str>,
        provider: crate::domain::GatewayKind,
    ) -> Result<Vec<(String, String, bool)>> {
        let rows: Vec<(String, String, bool)> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT c.key, s.key, c.outreach FROM campaign_steps s
                 JOIN campaigns c ON c.id = s.campaign_id
                 WHERE (CAST($1 AS TEXT) IS NULL OR c.key = $1) AND (c.status = 'active' OR CAST($1 AS TEXT) IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM step_sms_templates t
                                   WHERE t.step_id = s.id AND t.provider = $2)
                 ORDER BY c.key, s.key",
            )
            .bind(campaign)
            .bind(provider)
            .fetch_all(db)
            .await?
        });
        Ok(rows)
    }

    /// Bumped on every text change; the dispatcher reloads its templates when it moves.
    pub async fn texts_version(&self) -> Result<i64> {
        let v: Option<String> = on_read!(self, db, {
            sqlx::query_scalar("SELECT value FROM state WHERE key = 'texts_version'")
                .fetch_optional(db)
                .await?
        });
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Changes when a step fires. The version moves so that every message
    /// not yet sent under the old timing is cancelled and planned afresh.
    pub async fn set_step_timing(
        &self,
        step_id: i64,
        offset_days: i64,
        send_time: &str,
        grace_hours: i64,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        if parse_hhmm(send_time).is_none() {
            return Err(StoreError::Conflict(format!(
                "send_time {send_time:?} is not HH:MM"
            )));
        }
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let r = sqlx::query(
            "UPDATE campaign_steps SET offset_days = $1, send_time = $2, grace_hours = $3, version = version + 1 WHERE id = $4",
        )
        .bind(offset_days)
        .bind(send_time)
        .bind(grace_hours)
        .bind(step_id)
        .execute(&mut *tx)
        .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("step {step_id}")));
            }
            let n = super::enroll::cancel_pending!(
                tx,
                "step_id = $3",
                step_id,
                "step timing changed",
                ts(now)
            );
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Looks a step up by campaign and step key.
    pub async fn step_id(&self, campaign: &str, step: &str) -> Result<i64> {
        on_read!(self, db, {
            sqlx::query_scalar("SELECT s.id FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id WHERE c.key = $1 AND s.key = $2")
                .bind(campaign)
                .bind(step)
                .fetch_optional(db)
                .await?
        })
            .ok_or_else(|| StoreError::NotFound(format!("step {campaign}/{step}")))
    }
}

/// Moves the texts' version (the dispatcher reloads its templates when it
/// moves), in the transaction `tx`.
/// Writes one step text (new or changed) in transaction `$tx`.
macro_rules! upsert_step_text {
    ($tx:expr, $step_id:expr, $language:expr, $body:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO step_texts (step_id, language, body, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (step_id, language) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind($step_id)
        .bind($language)
        .bind($body)
        .bind(ts($now))
        .execute(&mut *$tx)
        .await?
    };
}
use upsert_step_text;

macro_rules! bump_texts_version {
    ($tx:expr) => {
        sqlx::query(
            "INSERT INTO state (key, value) VALUES ('texts_version', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(state.value AS BIGINT) + 1 AS TEXT)",
        )
        .execute(&mut *$tx)
        .await?
    };
}
pub(super) use bump_texts_version;

/// Inserts a step of campaign `cid` and its texts; evaluates to its id.
macro_rules! insert_step {
    ($tx:expr, $cid:expr, $s:expr, $now:expr) => {{
        let s: &StepSeed<'_> = $s;
        let sid: i64 = sqlx::query_scalar(
            "INSERT INTO campaign_steps (campaign_id, key, anchor, offset_days, send_time, grace_hours, weekday)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind($cid)
        .bind(s.key)
        .bind(s.anchor.as_str())
        .bind(s.offset_days)
        .bind(s.send_time)
        .bind(s.grace_hours)
        .bind(s.weekday.map(i64::from))
        .fetch_one(&mut *$tx)
        .await?;
        for (lang, body) in &s.texts {
            sqlx::query(
                "INSERT INTO step_texts (step_id, language, body, updated_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(sid)
            .bind(lang)
            .bind(body)
            .bind(ts($now))
            .execute(&mut *$tx)
            .await?;
        }
        sid
    }};
}
use insert_step;
