//! The outbox: one row per message, from planning to its last status.
//!
//! What both backends share lives here: the types, the queries written
//! once for both (`on_db!`), and each method's choice of backend. The
//! sending path's statements differ by backend and live apart:
//! [`sqlite`] (one writer) and [`postgres`] (several instances, `SKIP
//! LOCKED`, arrays). Both import from here; this module calls them, never
//! the other way round.

mod postgres;
mod sqlite;

use super::{
    from_ts, on_db, on_read, parse_stored_date, ts, BeginWrite, Db, Flush, Result, Store,
    StoreError,
};
use crate::domain::schedule::TriggerAnchor;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

/// Something a campaign step may fire for: a visit, or a pregnancy's date.
#[derive(Debug, Clone)]
pub struct PlanningCandidate {
    pub woman_id: i64,
    pub pregnancy_id: i64,
    pub pregnancy_version: i64,
    pub visit_id: Option<i64>,
    pub visit_version: i64,
    pub anchor_date: NaiveDate,
    /// Firings before this instant are never sent.
    pub plan_from: DateTime<Utc>,
    /// Her village: its zone reads the step's time of day.
    pub village: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewOutboxRow {
    pub dedupe_key: String,
    pub woman_id: i64,
    pub pregnancy_id: i64,
    pub visit_id: Option<i64>,
    pub step_id: i64,
    pub send_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// A series message: capped per woman, sent after reminders.
    pub outreach: bool,
}

/// Signed callback URLs already acted on are kept in `webhook_events`
/// beside envelope ids, their keys under this prefix.
pub const SPENT_URL: &str = "nonce:";

/// A claimed message with what is needed to render and send it.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: i64,
    pub attempts: i64,
    pub step_id: Option<i64>,
    pub expires_at: DateTime<Utc>,
    /// reminder, reply or alert.
    pub kind: crate::domain::MessageKind,
    /// The text, when it was written up front (replies, alerts).
    pub preset_body: Option<String>,
    pub woman_id: Option<i64>,
    /// For a staff member (routes may differ).
    pub to_staff: bool,
    pub name: String,
    /// Where it goes: her number, the staff member's, or the unknown sender's.
    pub phone: Option<String>,
    pub language: String,
    pub village: Option<String>,
    pub can_receive: bool,
    /// Of a broadcast that was stopped: never sent.
    pub stopped: bool,
    pub contact_label_zh: Option<String>,
    pub contact_label_en: Option<String>,
    /// Her officer comes to her (a postpartum or newborn home visit).
    pub home_visit: bool,
    pub due_on: Option<NaiveDate>,
    pub window_end: Option<NaiveDate>,
    pub lmp: Option<NaiveDate>,
    /// Her risk grade, for her care team's choices only (where her
    /// check-ups are); never a template variable.
    pub grade: crate::domain::risk::Grade,
    /// When a dispatcher first took it: how long its gateway has been failing it.
    pub first_tried_at: DateTime<Utc>,
    /// A series or broadcast message: capped per woman.
    pub outreach: bool,
    pub broadcast_id: Option<i64>,
    /// Her openid, when she follows the WeChat account (never for an SMS
    /// stand-in).
    pub wechat_to: Option<String>,
    /// The staff member's WeCom user id (never for an SMS stand-in).
    pub wecom_to: Option<String>,
    /// For an answer: the gateway and sender of the message it answers
    /// (an answer to a WeChat message goes back through WeChat).
    pub reply_via: Option<(String, String)>,
    /// An SMS stand-in for a message that failed on WeChat or WeCom.
    pub fallback_of: Option<i64>,
}

/// One claimed message as the claim query returns it (its attempts as
/// they were before this claim).
#[derive(serde::Deserialize)]
pub(crate) struct ClaimRow {
    id: i64,
    attempts: i64,
    step_id: Option<i64>,
    expires_at: i64,
    first_tried_at: Option<i64>,
    kind: String,
    outreach: i64,
    broadcast_id: Option<i64>,
    preset_body: Option<String>,
    woman_id: Option<i64>,
    to_staff: i64,
    name: String,
    phone: Option<String>,
    language: String,
    village: Option<String>,
    can_receive: Option<i64>,
    stopped: Option<i64>,
    label_zh: Option<String>,
    label_en: Option<String>,
    /// 0 or 1 (SQLite's JSON has no booleans).
    #[serde(default)]
    home_visit: i64,
    due_on: Option<String>,
    window_end: Option<String>,
    lmp: Option<String>,
    risk_colour: Option<String>,
    #[serde(default)]
    risk_purple: i64,
    fallback_of: Option<i64>,
    wechat_to: Option<String>,
    wecom_to: Option<String>,
    reply_gateway: Option<String>,
    reply_sender: Option<String>,
}

/// What became of one claimed message.
#[derive(Debug, Clone, Serialize)]
pub struct SendResult {
    pub id: i64,
    /// The claim it is the result of (the message's attempt count as
    /// claimed): a result applies only while that claim stands, never to a
    /// later claim by another process after this one's lease lapsed.
    pub attempt: i64,
    pub status: crate::domain::MessageStatus,
    pub cause: Option<String>,
    /// For a retry: when to try again.
    pub retry_at: Option<i64>,
    pub gateway: Option<String>,
    pub provider_id: Option<String>,
    pub to_addr: Option<String>,
    pub body: Option<String>,
    pub parts: Option<i64>,
    /// Not an attempt (a frequency-capped message that waits): the claim's
    /// attempt count is given back.
    pub undo_attempt: bool,
    /// The channel it went through: sms, wechat or wecom.
    pub channel: Option<crate::domain::Channel>,
    /// Failed on WeChat or WeCom: an SMS stand-in is written.
    pub fallback: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxListRow {
    pub id: i64,
    pub woman_id: Option<i64>,
    pub step: Option<String>,
    pub status: String,
    pub status_cause: Option<String>,
    pub send_at: DateTime<Utc>,
    pub attempts: i64,
    pub parts: Option<i64>,
    pub body: Option<String>,
    /// sms, wechat or wecom (once handed over).
    pub channel: String,
    pub gateway: Option<String>,
    /// An SMS stand-in: the message that failed on WeChat or WeCom.
    pub fallback_of: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub status: Option<String>,
    pub woman_id: Option<i64>,
    /// Only messages sending at or after this instant.
    pub from: Option<DateTime<Utc>>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusCount {
    pub status: crate::domain::MessageStatus,
    pub count: i64,
}

/// Forward-only rank of provider statuses: a late "sent" never overwrites "delivered".
const RANK: &str = "CASE {} WHEN 'scheduled' THEN 0 WHEN 'claimed' THEN 1 WHEN 'accepted' THEN 2 WHEN 'sent' THEN 3 ELSE 4 END";

/// Which receipts of a group are new, from the event ids its insert
/// wrote (`inserted`): a receipt without an id always is; of two with one
/// id, the first. Returns the flags, in order, and the reports to apply.
pub(super) fn fresh_receipts(
    items: &[(Option<(String, String)>, crate::domain::StatusReport)],
    mut inserted: std::collections::HashSet<(String, String)>,
) -> (Vec<bool>, Vec<crate::domain::StatusReport>) {
    let mut apply = Vec::with_capacity(items.len());
    let new = items
        .iter()
        .map(|(event, report)| {
            let fresh = event.as_ref().is_none_or(|e| inserted.remove(e));
            if fresh {
                apply.push(report.clone());
            }
            fresh
        })
        .collect();
    (new, apply)
}

pub(super) fn rank(expr: &str) -> String {
    RANK.replace("{}", expr)
}

impl Store {
    /// Visits (or pregnancies) whose anchor date lies in `[from, to]`, still
    /// pending, of active pregnancies of women with consent who have not
    /// opted out. `only` narrows to some pregnancies. Uses the date indexes:
    /// the cost follows what is due, not how many pregnancies exist.
    pub async fn planning_candidates(
        &self,
        anchor: TriggerAnchor,
        from: NaiveDate,
        to: NaiveDate,
        only: Option<&[i64]>,
    ) -> Result<Vec<PlanningCandidate>> {
        let (select, date_col) = match anchor {
            TriggerAnchor::VisitDue | TriggerAnchor::VisitWindowStart | TriggerAnchor::VisitWindowEnd => {
                let col = match anchor {
                    TriggerAnchor::VisitDue => "v.due_on",
                    TriggerAnchor::VisitWindowStart => "v.window_start",
                    _ => "v.window_end",
                };
                (
                    format!(
                        "SELECT p.woman_id, p.id AS pregnancy_id, p.version AS pver, v.id AS visit_id, v.version AS vver,
                                {col} AS anchor_date, p.plan_from, w.village
                         FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id
                         JOIN women w ON w.id = p.woman_id
                         WHERE v.status = 'pending' AND p.status IN ('active', 'delivered')
                           -- The officer's own home visits are tasks, not her reminders.
                           AND v.task = FALSE
                           -- After the birth, a prenatal check-up missed before it is
                           -- the officer's record to make, not her reminder.
                           AND (p.status = 'active' OR v.seq >= 100)
                           -- A newborn visit on the day of her own goes in her message.
                           AND NOT (v.newborn = TRUE AND EXISTS (
                               SELECT 1 FROM visits m WHERE m.pregnancy_id = v.pregnancy_id
                                  AND m.due_on = v.due_on AND m.newborn = FALSE AND m.task = FALSE
                                  AND m.status = 'pending'))"
                    ),
                    col,
                )
            }
            TriggerAnchor::Lmp => (
                "SELECT p.woman_id, p.id AS pregnancy_id, p.version AS pver, CAST(NULL AS BIGINT) AS visit_id,
                        CAST(0 AS BIGINT) AS vver, p.lmp AS anchor_date, p.plan_from, w.village
                 FROM pregnancies p JOIN women w ON w.id = p.woman_id WHERE p.status = 'active'"
                    .to_string(),
                "p.lmp",
            ),
            TriggerAnchor::Delivery => (
                "SELECT p.woman_id, p.id AS pregnancy_id, p.version AS pver, CAST(NULL AS BIGINT) AS visit_id,
                        CAST(0 AS BIGINT) AS vver, p.delivered_on AS anchor_date, p.plan_from, w.village
                 FROM pregnancies p JOIN women w ON w.id = p.woman_id WHERE p.status = 'delivered'"
                    .to_string(),
                "p.delivered_on",
            ),
        };
        let mut sql = format!(
            "{select} AND {date_col} BETWEEN $1 AND $2 AND w.consent_at IS NOT NULL AND w.opted_out_at IS NULL
               AND w.erased_at IS NULL"
        );
        if only.is_some() {
            sql.push_str(" AND p.id IN ");
            sql.push_str(&self.dialect().json_set_of("$3", "BIGINT"));
        }
        let only = only.map(|ids| serde_json::to_string(ids).expect("json"));
        on_read!(self, db, {
            let mut q = sqlx::query(&sql).bind(from).bind(to);
            if let Some(ids) = &only {
                q = q.bind(ids);
            }
            q.fetch_all(db)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(PlanningCandidate {
                        woman_id: r.try_get("woman_id")?,
                        pregnancy_id: r.try_get("pregnancy_id")?,
                        pregnancy_version: r.try_get("pver")?,
                        visit_id: r.try_get("visit_id")?,
                        visit_version: r.try_get("vver")?,
                        anchor_date: r.try_get("anchor_date")?,
                        plan_from: from_ts(r.try_get("plan_from")?),
                        village: r.try_get("village")?,
                    })
                })
                .collect()
        })
    }

    /// Writes planned messages; rows whose key exists already are skipped.
    /// Returns how many are new. On SQLite a few hundred rows go in each
    /// statement, in one transaction; on PostgreSQL the whole batch goes in
    /// one statement.
    pub async fn insert_planned(&self, rows: &[NewOutboxRow], now: DateTime<Utc>) -> Result<u64> {
        match &self.db {
            Db::Postgres(pool) => postgres::insert_planned(pool, rows, ts(now)).await,
            Db::Sqlite { write, .. } => sqlite::insert_planned(write, rows, ts(now)).await,
        }
    }

    /// Takes back messages whose claim outlived its lease (a worker died),
    /// expires those past their grace, and - when `claim` - claims up to
    /// `limit` due messages with a lease until `lease_until`.
    /// Returns the claimed messages ready to render.
    /// Replies to a sender go out at any hour; everything else only while
    /// `window_open`.
    ///
    /// Flushed ([`Flush::Yes`]): a claim is the last write before its
    /// messages are handed over, and its flush puts on disk every message
    /// it claims as it was written, under the id the gateway will hear
    /// (answers are written unflushed). Lost with its messages, an answer
    /// written again could get another id and go out twice.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        window_open: bool,
    ) -> Result<(Vec<ClaimedMessage>, u64)> {
        let now_s = ts(now);
        let (rows, expired) = match &self.db {
            Db::Postgres(pool) => {
                postgres::claim_due(pool, now_s, ts(lease_until), limit, window_open).await?
            }
            Db::Sqlite { write, .. } => {
                sqlite::claim_due(write, now_s, ts(lease_until), limit, window_open).await?
            }
        };
        Ok((claimed_messages(rows, now_s)?, expired))
    }

    /// Extends the leases of messages still held by the claims `held`
    /// names (id, attempt): a batch in flight. A message another process
    /// took back after the lease lapsed is not renewed.
    pub async fn renew_leases(&self, held: &[(i64, i64)], until: DateTime<Utc>) -> Result<u64> {
        match &self.db {
            Db::Postgres(pool) => postgres::renew_leases(pool, held, ts(until)).await,
            Db::Sqlite { write, .. } => sqlite::renew_leases(write, held, ts(until)).await,
        }
    }

    /// Records the results of a batch of sends in one transaction. A result
    /// only applies while its claim stands (the message still claimed at
    /// that attempt): a status report that arrived first is never
    /// overwritten, nor a later claim by another process. `flush`: the
    /// caller says whether a hand-over among them must survive a power cut
    /// (one to a gateway that would send it again).
    pub async fn record_results(
        &self,
        results: &[SendResult],
        now: DateTime<Utc>,
        flush: Flush,
    ) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        match &self.db {
            Db::Postgres(pool) => {
                let tx = Db::pg_write(pool, flush).await?;
                postgres::record_results(tx, results, ts(now)).await
            }
            Db::Sqlite {
                write, unflushed, ..
            } => {
                let tx = Db::sqlite_write(write, unflushed, flush).await?;
                sqlite::record_results(tx, results, ts(now)).await
            }
        }
    }

    /// The pregnancies among `pregnancies` that were already sent step
    /// `step_id` (in any version).
    /// `women` are the pregnancies' women: their index finds the rows.
    pub async fn step_handed_over(
        &self,
        step_id: i64,
        women: &[i64],
        pregnancies: &[i64],
    ) -> Result<std::collections::HashSet<i64>> {
        let sql = format!(
            "SELECT DISTINCT pregnancy_id FROM outbox
             WHERE woman_id IN {} AND step_id = $1
               AND pregnancy_id IN {}
               AND status IN ('claimed', 'accepted', 'sent', 'delivered')",
            self.dialect().json_set_of("$3", "BIGINT"),
            self.dialect().json_set_of("$2", "BIGINT"),
        );
        let ids: Vec<i64> = on_read!(self, db, {
            sqlx::query_scalar(&sql)
                .bind(step_id)
                .bind(serde_json::to_string(pregnancies).expect("json"))
                .bind(serde_json::to_string(women).expect("json"))
                .fetch_all(db)
                .await?
        });
        Ok(ids.into_iter().collect())
    }

    /// For each woman: messages handed over to her since `week_ago` (any
    /// kind a woman receives), and outreach messages since `day_start`.
    pub async fn recent_counts(
        &self,
        women: &[i64],
        week_ago: DateTime<Utc>,
        day_start: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<i64, (i64, i64)>> {
        if women.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT woman_id, COUNT(*), COUNT(*) FILTER (WHERE outreach = TRUE AND send_at >= $3)
             FROM outbox
             WHERE woman_id IN {}
               AND status IN ('accepted', 'sent', 'delivered') AND send_at >= $2
             GROUP BY woman_id",
            self.dialect().json_set_of("$1", "BIGINT"),
        );
        let rows: Vec<(i64, i64, i64)> = on_db!(self, db, {
            sqlx::query_as(&sql)
                .bind(serde_json::to_string(women).expect("json"))
                .bind(ts(week_ago))
                .bind(ts(day_start))
                .fetch_all(db)
                .await?
        });
        Ok(rows.into_iter().map(|(w, n, d)| (w, (n, d))).collect())
    }

    /// Applies status reports from a gateway (callbacks, webhooks, polls),
    /// forward only, in one transaction. Reports for one message are
    /// applied in rank order, in waves of one statement each (the n-th
    /// report of every message in wave n), so a batch costs a statement or
    /// two whatever its size. Returns how many changed a status.
    pub async fn apply_status_reports(
        &self,
        reports: &[crate::domain::StatusReport],
    ) -> Result<u64> {
        if reports.is_empty() {
            return Ok(0);
        }
        match &self.db {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let changed = postgres::apply_reports(&mut tx, reports).await?;
                tx.commit().await?;
                Ok(changed)
            }
            Db::Sqlite { write, .. } => sqlite::apply_status_reports(write, reports).await,
        }
    }

    /// Receipts from many webhook requests in one transaction (group
    /// commit). Items carrying a webhook envelope id are applied only the
    /// first time that id is seen; returns, per item, whether it was new.
    pub async fn apply_receipts(
        &self,
        items: &[(Option<(String, String)>, crate::domain::StatusReport)],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        match &self.db {
            Db::Postgres(pool) => postgres::apply_receipts(pool, items, ts(now)).await,
            Db::Sqlite { write, .. } => sqlite::apply_receipts(write, items, ts(now)).await,
        }
    }

    /// Remembers a webhook delivery by the gateway's envelope id; `false`
    /// when it was applied before.
    pub async fn record_webhook_event(
        &self,
        gateway: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let r = on_db!(self, db, {
            sqlx::query(
                "INSERT INTO webhook_events (gateway, event_id, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(gateway)
            .bind(event_id)
            .bind(ts(now))
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(r == 1)
    }

    pub async fn webhook_event_seen(&self, gateway: &str, event_id: &str) -> Result<bool> {
        let seen: Option<i32> = on_db!(self, db, {
            sqlx::query_scalar("SELECT 1 FROM webhook_events WHERE gateway = $1 AND event_id = $2")
                .bind(gateway)
                .bind(event_id)
                .fetch_optional(db)
                .await?
        });
        Ok(seen.is_some())
    }

    /// Forgets webhook envelope ids after 30 days (a gateway redelivers
    /// within hours) and spent callback URLs after a day (a URL older than
    /// five minutes is refused as stale anyway).
    pub async fn purge_webhook_events(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_db!(self, db, {
            sqlx::query(
                "DELETE FROM webhook_events WHERE received_at < $1
                    OR (received_at < $2 AND substr(event_id, 1, length($3)) = $3)",
            )
            .bind(ts(now - chrono::Duration::days(30)))
            .bind(ts(now - chrono::Duration::days(1)))
            .bind(SPENT_URL)
            .execute(db)
            .await?
            .rows_affected()
        }))
    }

    /// SMS stand-ins for messages that failed on WeChat (a
    /// `TEMPLATESENDJOBFINISH` failure). Returns how many were written.
    pub async fn fall_back_to_sms(&self, ids: &[i64], now: DateTime<Utc>) -> Result<u64> {
        match &self.db {
            Db::Postgres(pool) => postgres::write_fallbacks(pool, ids, ts(now)).await,
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin_write().await?;
                let n = sqlite::write_fallbacks(&mut tx, ids, ts(now)).await?;
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Our message id for a gateway's own id (and the woman it went to).
    pub async fn message_by_provider_id(
        &self,
        gateway: &str,
        provider_id: &str,
    ) -> Result<Option<(i64, Option<i64>)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT id, woman_id FROM outbox WHERE gateway = $1 AND provider_id = $2",
            )
            .bind(gateway)
            .bind(provider_id)
            .fetch_optional(db)
            .await?
        }))
    }

    /// Messages waiting for a pull gateway's phone: handed to that gateway
    /// and not yet reported on. (id, to, text).
    pub async fn pull_outbox(
        &self,
        gateway: &str,
        limit: i64,
    ) -> Result<Vec<(i64, String, String)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT id, to_addr, body FROM outbox
                 WHERE gateway = $1 AND status = 'accepted' AND acked_at IS NULL AND to_addr IS NOT NULL AND body IS NOT NULL
                 ORDER BY id LIMIT $2",
            )
            .bind(gateway)
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }

    /// The phone reported on these messages: stop offering them.
    pub async fn ack_pulled(&self, gateway: &str, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE outbox SET acked_at = $1 WHERE gateway = $2 AND acked_at IS NULL AND id IN {}",
            self.dialect().json_set_of("$3", "BIGINT"),
        );
        on_db!(self, db, {
            sqlx::query(&sql)
                .bind(ts(now))
                .bind(gateway)
                .bind(serde_json::to_string(ids).expect("json"))
                .execute(db)
                .await?;
        });
        Ok(())
    }

    /// The earliest send time among scheduled messages: when the dispatcher next has work.
    pub async fn next_send_at(&self) -> Result<Option<DateTime<Utc>>> {
        // Each lane's minimum is the first entry of its part of the index.
        let t: Option<i64> = on_read!(self, db, {
            sqlx::query_scalar(
                "SELECT MIN(m) FROM (
                     SELECT MIN(send_at) AS m FROM outbox WHERE status = 'scheduled' AND outreach = FALSE
                     UNION ALL
                     SELECT MIN(send_at) FROM outbox WHERE status = 'scheduled' AND outreach = TRUE) AS lanes",
            )
            .fetch_one(db)
            .await?
        });
        Ok(t.map(from_ts))
    }

    pub async fn list_outbox(&self, f: &OutboxFilter) -> Result<Vec<OutboxListRow>> {
        on_read!(self, db, {
            sqlx::query(
                "SELECT o.id, o.woman_id, COALESCE(c.key || '/' || s.key, o.kind) AS step, o.status, o.status_cause,
                        o.send_at, o.attempts, o.parts, o.body, o.channel, o.gateway, o.fallback_of
                 FROM outbox o LEFT JOIN campaign_steps s ON s.id = o.step_id LEFT JOIN campaigns c ON c.id = s.campaign_id
                 WHERE (CAST($1 AS TEXT) IS NULL OR o.status = $1) AND (CAST($2 AS BIGINT) IS NULL OR o.woman_id = $2)
                   AND (CAST($3 AS BIGINT) IS NULL OR o.send_at >= $3)
                 ORDER BY o.send_at, o.id LIMIT $4",
            )
            .bind(&f.status)
            .bind(f.woman_id)
            .bind(f.from.map(ts))
            .bind(if f.limit > 0 { f.limit } else { i64::MAX })
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                Ok(OutboxListRow {
                    id: r.try_get("id")?,
                    woman_id: r.try_get("woman_id")?,
                    step: r.try_get("step")?,
                    status: r.try_get("status")?,
                    status_cause: r.try_get("status_cause")?,
                    send_at: from_ts(r.try_get("send_at")?),
                    attempts: r.try_get("attempts")?,
                    parts: r.try_get("parts")?,
                    body: r.try_get("body")?,
                    channel: r.try_get("channel")?,
                    gateway: r.try_get("gateway")?,
                    fallback_of: r.try_get("fallback_of")?,
                })
            })
            .collect()
        })
    }

    /// Messages a dispatch pass as of `now` would claim, in the order it
    /// would (reminders, replies and alerts before outreach): waiting and
    /// due, or claimed by a lease that has lapsed. Only replies when the
    /// send window is closed everywhere. Nothing is claimed.
    pub async fn due_unclaimed(
        &self,
        now: DateTime<Utc>,
        window_open: bool,
    ) -> Result<Vec<OutboxListRow>> {
        on_read!(self, db, {
            sqlx::query(
                "SELECT o.id, o.woman_id, COALESCE(c.key || '/' || s.key, o.kind) AS step, o.status, o.status_cause,
                        o.send_at, o.attempts, o.parts, o.body, o.channel, o.gateway, o.fallback_of
                 FROM outbox o LEFT JOIN campaign_steps s ON s.id = o.step_id LEFT JOIN campaigns c ON c.id = s.campaign_id
                 WHERE (o.status = 'scheduled' OR (o.status = 'claimed' AND o.lease_until <= $1))
                   AND o.send_at <= $1 AND o.expires_at > $1 AND ($2 OR o.kind = 'reply')
                 ORDER BY o.outreach, o.send_at, o.id",
            )
            .bind(ts(now))
            .bind(window_open)
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                Ok(OutboxListRow {
                    id: r.try_get("id")?,
                    woman_id: r.try_get("woman_id")?,
                    step: r.try_get("step")?,
                    status: r.try_get("status")?,
                    status_cause: r.try_get("status_cause")?,
                    send_at: from_ts(r.try_get("send_at")?),
                    attempts: r.try_get("attempts")?,
                    parts: r.try_get("parts")?,
                    body: r.try_get("body")?,
                    channel: r.try_get("channel")?,
                    gateway: r.try_get("gateway")?,
                    fallback_of: r.try_get("fallback_of")?,
                })
            })
            .collect()
        })
    }

    /// Which of `keys` name a message in the outbox already.
    pub async fn existing_keys(&self, keys: &[&str]) -> Result<std::collections::HashSet<String>> {
        if keys.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT dedupe_key FROM outbox WHERE dedupe_key IN {}",
            self.dialect().json_set_of("$1", "TEXT"),
        );
        let found: Vec<String> = on_read!(self, db, {
            sqlx::query_scalar(&sql)
                .bind(serde_json::to_string(keys).expect("json"))
                .fetch_all(db)
                .await?
        });
        Ok(found.into_iter().collect())
    }

    /// Messages per status: all of them, or one broadcast's.
    pub async fn status_counts(&self, broadcast: Option<i64>) -> Result<Vec<StatusCount>> {
        let filter = if broadcast.is_some() {
            "WHERE broadcast_id = $1"
        } else {
            ""
        };
        let sql =
            format!("SELECT status, COUNT(*) FROM outbox {filter} GROUP BY status ORDER BY status");
        let rows: Vec<(crate::domain::MessageStatus, i64)> = on_read!(self, db, {
            let mut q = sqlx::query_as(&sql);
            if let Some(b) = broadcast {
                q = q.bind(b);
            }
            q.fetch_all(db).await?
        });
        Ok(rows
            .into_iter()
            .map(|(status, count)| StatusCount { status, count })
            .collect())
    }

    /// The statuses one message went through, oldest first: (status, at, cause).
    pub async fn events_of(
        &self,
        outbox_id: i64,
    ) -> Result<Vec<(String, DateTime<Utc>, Option<String>)>> {
        let rows: Vec<(String, i64, Option<String>)> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT status, at, cause FROM outbox_events WHERE outbox_id = $1 ORDER BY id",
            )
            .bind(outbox_id)
            .fetch_all(db)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(s, at, c)| (s, from_ts(at), c))
            .collect())
    }

    /// The planner's watermark: every firing up to it has been planned.
    pub async fn planned_until(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .get_state("planned_until")
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .map(from_ts))
    }

    pub async fn set_planned_until(&self, t: DateTime<Utc>) -> Result<()> {
        self.set_state("planned_until", &ts(t).to_string()).await
    }
}

/// The messages a claim returned, ready to render.
fn claimed_messages(rows: Vec<ClaimRow>, now_s: i64) -> Result<Vec<ClaimedMessage>> {
    let opt_date = |s: Option<String>| s.as_deref().map(parse_stored_date).transpose();
    rows.into_iter()
        .map(|r| {
            Ok(ClaimedMessage {
                id: r.id,
                // As the claim just counted them.
                attempts: r.attempts + 1,
                step_id: r.step_id,
                expires_at: from_ts(r.expires_at),
                first_tried_at: from_ts(r.first_tried_at.unwrap_or(now_s)),
                outreach: r.outreach != 0,
                broadcast_id: r.broadcast_id,
                kind: r
                    .kind
                    .parse()
                    .map_err(|e: crate::domain::UnknownValue| StoreError::Corrupt(e.to_string()))?,
                preset_body: r.preset_body,
                woman_id: r.woman_id,
                to_staff: r.to_staff != 0,
                name: r.name,
                phone: r.phone,
                language: r.language,
                village: r.village,
                can_receive: r.can_receive.unwrap_or(0) != 0,
                stopped: r.stopped.unwrap_or(0) != 0,
                contact_label_zh: r.label_zh,
                contact_label_en: r.label_en,
                home_visit: r.home_visit != 0,
                due_on: opt_date(r.due_on)?,
                window_end: opt_date(r.window_end)?,
                lmp: opt_date(r.lmp)?,
                grade: crate::domain::risk::Grade::from_stored(
                    r.risk_colour.as_deref(),
                    r.risk_purple != 0,
                    None,
                ),
                wechat_to: r.wechat_to,
                wecom_to: r.wecom_to,
                reply_via: r.reply_gateway.zip(r.reply_sender),
                fallback_of: r.fallback_of,
            })
        })
        .collect::<Result<Vec<_>>>()
}

/// A batch's reports in waves: a message's reports in rank order, the
/// n-th report of every message in wave n.
pub(super) fn waves(
    reports: &[crate::domain::StatusReport],
) -> Vec<Vec<&crate::domain::StatusReport>> {
    let mut sorted: Vec<&crate::domain::StatusReport> = reports.iter().collect();
    sorted.sort_by_key(|r| (r.message_id, r.status as u8, r.at));
    let mut waves: Vec<Vec<&crate::domain::StatusReport>> = vec![];
    let mut prev = None;
    let mut k = 0;
    for r in sorted {
        k = if prev == Some(r.message_id) { k + 1 } else { 0 };
        prev = Some(r.message_id);
        if waves.len() <= k {
            waves.push(vec![]);
        }
        waves[k].push(r);
    }
    waves
}

#[cfg(test)]
mod tests {
    use crate::domain::{ReportedStatus, StatusReport};

    fn report(id: i64) -> StatusReport {
        StatusReport {
            message_id: id,
            status: ReportedStatus::Delivered,
            reason: None,
            at: chrono::DateTime::UNIX_EPOCH,
            gateway: Some("phone".into()),
        }
    }

    /// A receipt is applied once however often it comes in one group: the
    /// first copy of an event id the insert wrote is new, a second copy in
    /// the same group and one written before are not; a receipt without
    /// an event id always is.
    #[test]
    fn of_a_group_only_the_first_copy_of_a_new_event_is_applied() {
        let ev = |id: &str| Some(("phone".to_string(), id.to_string()));
        let items = vec![
            (ev("a"), report(1)),
            (ev("b"), report(2)),
            (ev("a"), report(1)),
            (None, report(3)),
        ];
        // "b" was stored by an earlier group: the insert did not write it.
        let inserted = [("phone".to_string(), "a".to_string())].into();
        let (new, apply) = super::fresh_receipts(&items, inserted);
        assert_eq!(new, [true, false, false, true]);
        let applied: Vec<i64> = apply.iter().map(|r| r.message_id).collect();
        assert_eq!(applied, [1, 3]);
    }
}
