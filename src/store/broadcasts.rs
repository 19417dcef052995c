//! Broadcasts: a message to an audience chosen by filters, previewed,
//! published into the outbox in one statement, followed and stopped.

use super::{from_ts, on_db, on_read, ts, BeginWrite, Result, Store, StoreError};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Who a broadcast goes to. Every filter narrows; an empty list means
/// "any". Only women with consent, not opted out and not erased are ever
/// counted, and only while pregnant or within a year of a birth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Audience {
    /// Village codes.
    pub villages: Vec<String>,
    /// Townships: the villages of their officers and supervisors.
    pub townships: Vec<String>,
    pub stage: Stage,
    /// zh-CN, en.
    pub languages: Vec<String>,
    /// "wechat": bound to WeChat; "sms": not bound.
    pub channel: Option<String>,
    /// Has attended this contact (its visit recorded done), e.g. "anc1".
    pub attended: Option<String>,
    /// Has not attended this contact.
    pub not_attended: Option<String>,
}

/// Where in pregnancy or after birth, on the day the broadcast goes out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Stage {
    /// Pregnant now, or gave birth within 52 weeks.
    #[default]
    Any,
    /// Completed weeks of pregnancy, inclusive.
    Pregnant { weeks_from: i64, weeks_to: i64 },
    /// Completed weeks since birth, inclusive.
    Postpartum { weeks_from: i64, weeks_to: i64 },
}

/// One woman in an audience, for samples.
#[derive(Debug, Clone, Serialize)]
pub struct AudienceMember {
    pub woman_id: i64,
    pub name: String,
    pub language: String,
    pub village: Option<String>,
    pub lmp: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BroadcastRow {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub audience: Audience,
    pub step_id: i64,
    pub send_at: DateTime<Utc>,
    /// Recurring: a cron expression in local time.
    pub cron: Option<String>,
    pub planned_until: Option<DateTime<Utc>>,
    pub grace_hours: i64,
    pub created_by: String,
    pub published_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

const BROADCAST_COLUMNS: &str =
    "id, name, status, audience, step_id, send_at, cron, planned_until, \
     grace_hours, created_by, published_at, stopped_at";

/// A broadcast as stored, decoded on either backend.
#[derive(sqlx::FromRow)]
struct BroadcastRecord {
    id: i64,
    name: String,
    status: String,
    audience: String,
    step_id: i64,
    send_at: i64,
    cron: Option<String>,
    planned_until: Option<i64>,
    grace_hours: i64,
    created_by: String,
    published_at: Option<i64>,
    stopped_at: Option<i64>,
}

fn broadcast_row(r: BroadcastRecord) -> Result<BroadcastRow> {
    let id = r.id;
    Ok(BroadcastRow {
        id,
        name: r.name,
        status: r.status,
        audience: serde_json::from_str(&r.audience)
            .map_err(|e| StoreError::Corrupt(format!("broadcast {id} audience: {e}")))?,
        step_id: r.step_id,
        send_at: from_ts(r.send_at),
        cron: r.cron,
        planned_until: r.planned_until.map(from_ts),
        grace_hours: r.grace_hours,
        created_by: r.created_by,
        published_at: r.published_at.map(from_ts),
        stopped_at: r.stopped_at.map(from_ts),
    })
}

/// Appends `FROM women w WHERE <the audience on day on>` to the query
/// builder `$qb` (of either backend); `$pg`: the store's [`super::Dialect`].
macro_rules! push_audience {
    ($qb:expr, $a:expr, $on:expr, $pg:expr) => {{
        let qb = &mut $qb;
        let a: &Audience = $a;
        let on: NaiveDate = $on;
        let (set_open, set_close) = $pg.json_set("TEXT");
        let json = |v: &Vec<String>| serde_json::to_string(v).expect("json");
        qb.push(
            " FROM women w WHERE w.consent_at IS NOT NULL AND w.opted_out_at IS NULL AND w.erased_at IS NULL",
        );
        if !a.villages.is_empty() || !a.townships.is_empty() {
            qb.push(" AND (w.village IN (")
                .push(&set_open)
                .push_bind(json(&a.villages))
                .push(set_close)
                .push(") OR w.village IN (SELECT s.village FROM staff s WHERE s.village IS NOT NULL AND s.township IN (")
                .push(&set_open)
                .push_bind(json(&a.townships))
                .push(set_close)
                .push(")))");
        }
        if !a.languages.is_empty() {
            qb.push(" AND w.language IN (")
                .push(&set_open)
                .push_bind(json(&a.languages))
                .push(set_close)
                .push(")");
        }
        match a.channel.as_deref() {
            Some("wechat") => {
                qb.push(" AND w.wechat_openid IS NOT NULL");
            }
            Some("sms") => {
                qb.push(" AND w.wechat_openid IS NULL");
            }
            _ => {}
        }
        let (active, delivered) = stage_ranges(&a.stage, on);
        qb.push(" AND (");
        let mut or = false;
        if let Some((from, to)) = active {
            qb.push("EXISTS (SELECT 1 FROM pregnancies p WHERE p.woman_id = w.id AND p.status = 'active' AND p.lmp BETWEEN ")
                .push_bind(from)
                .push(" AND ")
                .push_bind(to)
                .push(")");
            or = true;
        }
        if let Some((from, to)) = delivered {
            if or {
                qb.push(" OR ");
            }
            qb.push("EXISTS (SELECT 1 FROM pregnancies p WHERE p.woman_id = w.id AND p.status = 'delivered' AND p.delivered_on BETWEEN ")
                .push_bind(from)
                .push(" AND ")
                .push_bind(to)
                .push(")");
        }
        qb.push(")");
        for (key, done) in [(&a.attended, true), (&a.not_attended, false)] {
            if let Some(k) = key {
                qb.push(if done { " AND EXISTS" } else { " AND NOT EXISTS" })
                    .push(" (SELECT 1 FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id WHERE p.woman_id = w.id AND v.status = 'done' AND v.contact_key = ")
                    .push_bind(k.clone())
                    .push(")");
            }
        }
    }};
}

/// The days an active pregnancy's LMP, and a delivered one's birth, may
/// fall on for `stage` on day `on` (inclusive); `None`: that kind is not
/// in the audience.
#[allow(clippy::type_complexity)]
fn stage_ranges(
    stage: &Stage,
    on: NaiveDate,
) -> (
    Option<(NaiveDate, NaiveDate)>,
    Option<(NaiveDate, NaiveDate)>,
) {
    match *stage {
        Stage::Any => (
            Some((on - Duration::days(44 * 7), on)),
            Some((on - Duration::days(52 * 7), on)),
        ),
        // Completed weeks w on day `on`: the LMP lies in [on - 7w - 6, on - 7w].
        Stage::Pregnant {
            weeks_from,
            weeks_to,
        } => (
            Some((
                on - Duration::days(7 * weeks_to + 6),
                on - Duration::days(7 * weeks_from),
            )),
            None,
        ),
        Stage::Postpartum {
            weeks_from,
            weeks_to,
        } => (
            None,
            Some((
                on - Duration::days(7 * weeks_to + 6),
                on - Duration::days(7 * weeks_from),
            )),
        ),
    }
}

/// One outbox row per woman of the audience on day `on`, sent at
/// `send_at`; `occurrence` (recurring broadcasts) is part of the keys, so
/// an occurrence is planned once however often this runs. Runs in the
/// transaction `$tx` (of either backend; `$pg`: the store's dialect) and
/// evaluates to how many rows it wrote.
macro_rules! insert_occurrence {
    ($tx:expr, $b:expr, $occurrence:expr, $send_at:expr, $on:expr, $now:expr, $pg:expr) => {{
        let b: &BroadcastRow = $b;
        let occurrence: Option<DateTime<Utc>> = $occurrence;
        let send_at: DateTime<Utc> = $send_at;
        let now_s = ts($now);
        let key = match occurrence {
            Some(at) => format!("b{}@{}/w", b.id, ts(at)),
            None => format!("b{}/w", b.id),
        };
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO outbox (dedupe_key, woman_id, pregnancy_id, step_id, broadcast_id, outreach, kind,
                                 send_at, expires_at, status, status_cause, created_at, updated_at)
             SELECT ",
        );
        qb.push_bind(key)
            .push(" || w.id, w.id, (SELECT p.id FROM pregnancies p WHERE p.woman_id = w.id AND p.status IN ('active', 'delivered') ORDER BY p.id DESC LIMIT 1), ")
            .push_bind(b.step_id)
            .push(", ")
            .push_bind(b.id)
            .push(", TRUE, 'reminder', ")
            .push_bind(ts(send_at))
            .push(", ")
            .push_bind(ts(send_at + Duration::hours(b.grace_hours)))
            .push(", 'scheduled', 'broadcast', ")
            .push_bind(now_s)
            .push(", ")
            .push_bind(now_s);
        push_audience!(qb, &b.audience, $on, $pg);
        qb.push(" ON CONFLICT (dedupe_key) DO NOTHING");
        qb.build().execute(&mut *$tx).await?.rows_affected()
    }};
}

impl Store {
    /// How many women the audience holds on day `on`, by language.
    pub async fn audience_counts(&self, a: &Audience, on: NaiveDate) -> Result<Vec<(String, i64)>> {
        let pg = self.dialect();
        Ok(on_read!(self, db, {
            let mut qb = sqlx::QueryBuilder::new("SELECT w.language, COUNT(*)");
            push_audience!(qb, a, on, pg);
            qb.push(" GROUP BY w.language ORDER BY w.language");
            qb.build_query_as().fetch_all(db).await?
        }))
    }

    /// A few women of the audience, for sample messages.
    pub async fn audience_sample(
        &self,
        a: &Audience,
        on: NaiveDate,
        n: i64,
    ) -> Result<Vec<AudienceMember>> {
        let pg = self.dialect();
        Ok(on_read!(self, db, {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT w.id, w.name, w.language, w.village,
                        (SELECT p.lmp FROM pregnancies p WHERE p.woman_id = w.id AND p.status = 'active') AS lmp",
            );
            push_audience!(qb, a, on, pg);
            qb.push(" ORDER BY w.id LIMIT ").push_bind(n);
            qb.build_query_as::<(i64, String, String, Option<String>, Option<NaiveDate>)>()
                .fetch_all(db)
                .await?
        })
        .into_iter()
        .map(|(woman_id, name, language, village, lmp)| AudienceMember {
            woman_id,
            name,
            language,
            village,
            lmp,
        })
        .collect())
    }

    /// Saves a draft broadcast and its texts (already validated) as the
    /// one step of a campaign of its own, which the planner never plans.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_broadcast(
        &self,
        name: &str,
        audience: &Audience,
        texts: &[(String, String)],
        send_at: DateTime<Utc>,
        cron: Option<&str>,
        grace_hours: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let now_s = ts(now);
        let audience = serde_json::to_string(audience).expect("json");
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO broadcasts (name, audience, send_at, cron, grace_hours, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(name)
            .bind(&audience)
            .bind(ts(send_at))
            .bind(cron)
            .bind(grace_hours)
            .bind(actor)
            .bind(now_s)
            .bind(now_s)
            .fetch_one(&mut *tx)
            .await?;
            let campaign: i64 = sqlx::query_scalar(
                "INSERT INTO campaigns (key, name, status, outreach, created_at, updated_at)
                 VALUES ($1, $2, 'archived', TRUE, $3, $4) RETURNING id",
            )
            .bind(format!("broadcast:{id}"))
            .bind(name)
            .bind(now_s)
            .bind(now_s)
            .fetch_one(&mut *tx)
            .await?;
            let step: i64 = sqlx::query_scalar(
                "INSERT INTO campaign_steps (campaign_id, key, anchor, offset_days, send_time, grace_hours)
                 VALUES ($1, 'text', 'lmp', 0, '00:00', $2) RETURNING id",
            )
            .bind(campaign)
            .bind(grace_hours)
            .fetch_one(&mut *tx)
            .await?;
            for (lang, body) in texts {
                sqlx::query(
                    "INSERT INTO step_texts (step_id, language, body, updated_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(step)
                .bind(lang)
                .bind(body)
                .bind(now_s)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE broadcasts SET step_id = $1 WHERE id = $2")
                .bind(step)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            super::campaigns::bump_texts_version!(tx);
            tx.commit().await?;
            id
        }))
    }

    pub async fn broadcast(&self, id: i64) -> Result<BroadcastRow> {
        let r: BroadcastRecord = on_read!(self, db, {
            sqlx::query_as(&format!(
                "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(db)
            .await?
        })
        .ok_or_else(|| StoreError::NotFound(format!("broadcast {id}")))?;
        broadcast_row(r)
    }

    pub async fn broadcasts(&self) -> Result<Vec<BroadcastRow>> {
        self.broadcasts_where("TRUE").await
    }

    /// Published recurring broadcasts, for the planner of their occurrences.
    pub async fn recurring_broadcasts(&self) -> Result<Vec<BroadcastRow>> {
        self.broadcasts_where("status = 'published' AND cron IS NOT NULL")
            .await
    }

    async fn broadcasts_where(&self, filter: &str) -> Result<Vec<BroadcastRow>> {
        let rows: Vec<BroadcastRecord> = on_read!(self, db, {
            sqlx::query_as(&format!(
                "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE {filter} ORDER BY id"
            ))
            .fetch_all(db)
            .await?
        });
        rows.into_iter().map(broadcast_row).collect()
    }

    /// Publishes draft `b`. A one-off broadcast's messages are planned at
    /// once: one outbox row per woman of the audience (as it is on the day
    /// it goes out), in one statement; a recurring one's occurrences are
    /// planned as they come (`plan_occurrences`). Returns how many rows.
    /// Only a draft moves: publishing twice, even at once, plans nothing twice.
    pub async fn publish_broadcast(
        &self,
        b: &BroadcastRow,
        on: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let now_s = ts(now);
        let pg = self.dialect();
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let drafted = sqlx::query(
                "UPDATE broadcasts SET status = 'published', published_at = $1, updated_at = $1
                 WHERE id = $2 AND status = 'draft'",
            )
            .bind(now_s)
            .bind(b.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if drafted == 0 {
                return Err(StoreError::Conflict(format!(
                    "broadcast {} is {}: only a draft can be published",
                    b.id, b.status
                )));
            }
            let n = if b.cron.is_none() {
                insert_occurrence!(tx, b, None, b.send_at.max(now), on, now, pg)
            } else {
                0
            };
            tx.commit().await?;
            n
        }))
    }

    /// Plans the occurrences `at` of a recurring broadcast (each to its
    /// audience on day `on`), and moves its watermark to `until`.
    pub async fn plan_occurrences(
        &self,
        b: &BroadcastRow,
        occurrences: &[(DateTime<Utc>, NaiveDate)],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let pg = self.dialect();
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let mut n = 0;
            for (at, on) in occurrences {
                n += insert_occurrence!(tx, b, Some(*at), *at, *on, now, pg);
            }
            sqlx::query(
                "UPDATE broadcasts SET planned_until = $1 WHERE id = $2 AND status = 'published'",
            )
            .bind(ts(until))
            .bind(b.id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            n
        }))
    }

    /// Stops a broadcast: every message not yet sent is cancelled, and a
    /// message already claimed is not sent. Returns how many were cancelled.
    pub async fn stop_broadcast(&self, id: i64, now: DateTime<Utc>) -> Result<u64> {
        let now_s = ts(now);
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let found = sqlx::query(
                "UPDATE broadcasts SET status = 'stopped', stopped_at = $1, updated_at = $1 WHERE id = $2 AND status <> 'stopped'",
            )
            .bind(now_s)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if found == 0 {
                self.broadcast(id).await?;
                return Ok(0);
            }
            let n = sqlx::query(
                "UPDATE outbox SET status = 'cancelled', status_cause = 'broadcast stopped', updated_at = $1
                 WHERE broadcast_id = $2 AND status = 'scheduled'",
            )
            .bind(now_s)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            n
        }))
    }
}
