//! Broadcasts: a message to an audience chosen by filters, previewed,
//! published into the outbox in one statement, followed and stopped.

use super::{date_str, from_ts, ts, Result, Store, StoreError};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row, Sqlite};

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

fn broadcast_row(r: &sqlx::sqlite::SqliteRow) -> Result<BroadcastRow> {
    let id: i64 = r.get("id");
    Ok(BroadcastRow {
        id,
        name: r.get("name"),
        status: r.get("status"),
        audience: serde_json::from_str(r.get::<&str, _>("audience"))
            .map_err(|e| StoreError::Corrupt(format!("broadcast {id} audience: {e}")))?,
        step_id: r.get("step_id"),
        send_at: from_ts(r.get("send_at")),
        cron: r.get("cron"),
        planned_until: r.get::<Option<i64>, _>("planned_until").map(from_ts),
        grace_hours: r.get("grace_hours"),
        created_by: r.get("created_by"),
        published_at: r.get::<Option<i64>, _>("published_at").map(from_ts),
        stopped_at: r.get::<Option<i64>, _>("stopped_at").map(from_ts),
    })
}

/// Appends `FROM women w WHERE <the audience on day on>`.
fn push_audience(qb: &mut QueryBuilder<'_, Sqlite>, a: &Audience, on: NaiveDate) {
    let json = |v: &Vec<String>| serde_json::to_string(v).expect("json");
    qb.push(
        " FROM women w WHERE w.consent_at IS NOT NULL AND w.opted_out_at IS NULL AND w.erased_at IS NULL",
    );
    if !a.villages.is_empty() || !a.townships.is_empty() {
        qb.push(" AND (w.village IN (SELECT value FROM json_each(")
            .push_bind(json(&a.villages))
            .push(")) OR w.village IN (SELECT s.village FROM staff s WHERE s.village IS NOT NULL AND s.township IN (SELECT value FROM json_each(")
            .push_bind(json(&a.townships))
            .push("))))");
    }
    if !a.languages.is_empty() {
        qb.push(" AND w.language IN (SELECT value FROM json_each(")
            .push_bind(json(&a.languages))
            .push("))");
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
    let (active, delivered) = match a.stage {
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
    };
    qb.push(" AND (");
    let mut or = false;
    if let Some((from, to)) = active {
        qb.push("EXISTS (SELECT 1 FROM pregnancies p WHERE p.woman_id = w.id AND p.status = 'active' AND p.lmp BETWEEN ")
            .push_bind(date_str(from))
            .push(" AND ")
            .push_bind(date_str(to))
            .push(")");
        or = true;
    }
    if let Some((from, to)) = delivered {
        if or {
            qb.push(" OR ");
        }
        qb.push("EXISTS (SELECT 1 FROM pregnancies p WHERE p.woman_id = w.id AND p.status = 'delivered' AND p.delivered_on BETWEEN ")
            .push_bind(date_str(from))
            .push(" AND ")
            .push_bind(date_str(to))
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
}

/// One outbox row per woman of the audience on day `on`, sent at
/// `send_at`; `occurrence` (recurring broadcasts) is part of the keys, so
/// an occurrence is planned once however often this runs.
async fn insert_occurrence(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    b: &BroadcastRow,
    occurrence: Option<DateTime<Utc>>,
    send_at: DateTime<Utc>,
    on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64> {
    let now_s = ts(now);
    let key = match occurrence {
        Some(at) => format!("b{}@{}/w", b.id, ts(at)),
        None => format!("b{}/w", b.id),
    };
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO outbox (dedupe_key, woman_id, pregnancy_id, step_id, broadcast_id, outreach, kind,
                             send_at, expires_at, status, status_cause, created_at, updated_at)
         SELECT ",
    );
    qb.push_bind(key)
        .push(" || w.id, w.id, (SELECT p.id FROM pregnancies p WHERE p.woman_id = w.id AND p.status IN ('active', 'delivered') ORDER BY p.id DESC LIMIT 1), ")
        .push_bind(b.step_id)
        .push(", ")
        .push_bind(b.id)
        .push(", 1, 'reminder', ")
        .push_bind(ts(send_at))
        .push(", ")
        .push_bind(ts(send_at + Duration::hours(b.grace_hours)))
        .push(", 'scheduled', 'broadcast', ")
        .push_bind(now_s)
        .push(", ")
        .push_bind(now_s);
    push_audience(&mut qb, &b.audience, on);
    qb.push(" ON CONFLICT (dedupe_key) DO NOTHING");
    Ok(qb.build().execute(&mut **tx).await?.rows_affected())
}

impl Store {
    /// How many women the audience holds on day `on`, by language.
    pub async fn audience_counts(&self, a: &Audience, on: NaiveDate) -> Result<Vec<(String, i64)>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT w.language, COUNT(*)");
        push_audience(&mut qb, a, on);
        qb.push(" GROUP BY w.language ORDER BY w.language");
        Ok(qb.build_query_as().fetch_all(self.read()?).await?)
    }

    /// A few women of the audience, for sample messages.
    pub async fn audience_sample(
        &self,
        a: &Audience,
        on: NaiveDate,
        n: i64,
    ) -> Result<Vec<AudienceMember>> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT w.id, w.name, w.language, w.village,
                    (SELECT p.lmp FROM pregnancies p WHERE p.woman_id = w.id AND p.status = 'active') AS lmp",
        );
        push_audience(&mut qb, a, on);
        qb.push(" ORDER BY w.id LIMIT ").push_bind(n);
        qb.build()
            .fetch_all(self.read()?)
            .await?
            .into_iter()
            .map(|r| {
                Ok(AudienceMember {
                    woman_id: r.get("id"),
                    name: r.get("name"),
                    language: r.get("language"),
                    village: r.get("village"),
                    lmp: r
                        .get::<Option<String>, _>("lmp")
                        .as_deref()
                        .map(super::parse_stored_date)
                        .transpose()?,
                })
            })
            .collect()
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
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO broadcasts (name, audience, send_at, cron, grace_hours, created_by, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(serde_json::to_string(audience).expect("json"))
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
             VALUES (?, ?, 'archived', 1, ?, ?) RETURNING id",
        )
        .bind(format!("broadcast:{id}"))
        .bind(name)
        .bind(now_s)
        .bind(now_s)
        .fetch_one(&mut *tx)
        .await?;
        let step: i64 = sqlx::query_scalar(
            "INSERT INTO campaign_steps (campaign_id, key, anchor, offset_days, send_time, grace_hours)
             VALUES (?, 'text', 'lmp', 0, '00:00', ?) RETURNING id",
        )
        .bind(campaign)
        .bind(grace_hours)
        .fetch_one(&mut *tx)
        .await?;
        for (lang, body) in texts {
            sqlx::query(
                "INSERT INTO step_texts (step_id, language, body, updated_at) VALUES (?, ?, ?, ?)",
            )
            .bind(step)
            .bind(lang)
            .bind(body)
            .bind(now_s)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE broadcasts SET step_id = ? WHERE id = ?")
            .bind(step)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        super::campaigns::bump_texts_version(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn broadcast(&self, id: i64) -> Result<BroadcastRow> {
        let r = sqlx::query(&format!(
            "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.read()?)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("broadcast {id}")))?;
        broadcast_row(&r)
    }

    pub async fn broadcasts(&self) -> Result<Vec<BroadcastRow>> {
        self.broadcasts_where("1").await
    }

    /// Published recurring broadcasts, for the planner of their occurrences.
    pub async fn recurring_broadcasts(&self) -> Result<Vec<BroadcastRow>> {
        self.broadcasts_where("status = 'published' AND cron IS NOT NULL")
            .await
    }

    async fn broadcasts_where(&self, filter: &str) -> Result<Vec<BroadcastRow>> {
        sqlx::query(&format!(
            "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE {filter} ORDER BY id"
        ))
        .fetch_all(self.read()?)
        .await?
        .iter()
        .map(broadcast_row)
        .collect()
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
        let mut tx = self.begin().await?;
        let drafted = sqlx::query(
            "UPDATE broadcasts SET status = 'published', published_at = ?1, updated_at = ?1
             WHERE id = ?2 AND status = 'draft'",
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
            insert_occurrence(&mut tx, b, None, b.send_at.max(now), on, now).await?
        } else {
            0
        };
        tx.commit().await?;
        Ok(n)
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
        let mut tx = self.begin().await?;
        let mut n = 0;
        for (at, on) in occurrences {
            n += insert_occurrence(&mut tx, b, Some(*at), *at, *on, now).await?;
        }
        sqlx::query(
            "UPDATE broadcasts SET planned_until = ? WHERE id = ? AND status = 'published'",
        )
        .bind(ts(until))
        .bind(b.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Stops a broadcast: every message not yet sent is cancelled, and a
    /// message already claimed is not sent. Returns how many were cancelled.
    pub async fn stop_broadcast(&self, id: i64, now: DateTime<Utc>) -> Result<u64> {
        let now_s = ts(now);
        let mut tx = self.begin().await?;
        let found = sqlx::query(
            "UPDATE broadcasts SET status = 'stopped', stopped_at = ?1, updated_at = ?1 WHERE id = ?2 AND status <> 'stopped'",
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
            "UPDATE outbox SET status = 'cancelled', status_cause = 'broadcast stopped', updated_at = ?1
             WHERE broadcast_id = ?2 AND status = 'scheduled'",
        )
        .bind(now_s)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}
