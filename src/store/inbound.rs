//! Received messages, the officers' inbox, direct messages (replies and
//! alerts) and the conversation with one woman.

use super::WomanRow;
use super::{from_ts, in_write, on_db, on_read, ts, BeginWrite, Flush, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::domain::NewInbound;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InboundRow {
    pub id: i64,
    pub gateway: String,
    pub sender: String,
    pub text: String,
    pub received_at: i64,
    pub woman_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub intent: Option<String>,
    pub outcome: Option<String>,
    pub processed_at: Option<i64>,
    pub needs_answer: bool,
    pub assigned_to: Option<String>,
    pub answered_at: Option<i64>,
    pub answered_by: Option<String>,
}

/// What processing decided about a received message.
#[derive(Debug, Clone, Default)]
pub struct InboundResult {
    pub woman_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub intent: String,
    pub outcome: String,
    pub needs_answer: bool,
    pub assigned_to: Option<String>,
    /// The answer to the sender, written with the result in one
    /// transaction: she is answered exactly when her message is done.
    pub reply: Option<DirectMessage>,
    /// The check-up she confirmed, marked in the same transaction.
    pub confirm_visit: Option<i64>,
}

/// A message written directly (not from a campaign step): a reply to a
/// sender, an officer's answer, an alert to staff.
#[derive(Debug, Clone)]
pub struct DirectMessage {
    /// Unique reason, e.g. `reply:<inbound id>`: a redelivery or a retry of
    /// the processing never writes it twice.
    pub dedupe_key: String,
    /// `reply` or `alert`.
    pub kind: crate::domain::MessageKind,
    pub woman_id: Option<i64>,
    pub staff_id: Option<i64>,
    /// Only for senders we do not know.
    pub to_addr: Option<String>,
    pub body: String,
    pub in_reply_to: Option<i64>,
    pub send_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One line of a conversation, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationItem {
    pub at: DateTime<Utc>,
    /// `in` (from her) or `out` (to her).
    pub direction: &'static str,
    pub id: i64,
    pub text: Option<String>,
    /// Outgoing: its status. Incoming: what it meant.
    pub status: Option<String>,
    /// Outgoing: the campaign step or kind. Incoming: what was done.
    pub detail: Option<String>,
}

const INBOUND_COLUMNS: &str =
    "id, gateway, sender, text, received_at, woman_id, staff_id, intent, outcome, processed_at,
     needs_answer, assigned_to, answered_at, answered_by";

/// Writes a direct message on `$db` (a pool or a transaction); evaluates
/// to the rows written: 0 when its key exists already.
macro_rules! insert_direct {
    ($db:expr, $m:expr, $now:expr) => {{
        let (m, now): (&DirectMessage, DateTime<Utc>) = ($m, $now);
        sqlx::query(
            "INSERT INTO outbox (dedupe_key, kind, woman_id, staff_id, to_addr, body, in_reply_to, status, status_cause,
                                 send_at, expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', 'written', $8, $9, $10, $11)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&m.dedupe_key)
        .bind(m.kind)
        .bind(m.woman_id)
        .bind(m.staff_id)
        .bind(&m.to_addr)
        .bind(&m.body)
        .bind(m.in_reply_to)
        .bind(ts(m.send_at))
        .bind(ts(m.expires_at))
        .bind(ts(now))
        .bind(ts(now))
        .execute($db)
        .await?
        .rows_affected()
    }};
}

impl Store {
    /// Stores received messages in one transaction (one flush for all of
    /// them: the service's group commit); each one's id, or none
    /// when the gateway delivered it before. An explicit COMMIT: an
    /// `INSERT ... RETURNING` run on its own hands back its row before the
    /// implicit commit, and a commit that then failed (a full disk) would
    /// go unseen, the message acknowledged and lost.
    pub async fn store_inbound(
        &self,
        messages: &[NewInbound],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<i64>>> {
        // A few hundred per statement; what each inserted says which are
        // new (a redelivery, or a second copy in the group, is not).
        let mut stored: std::collections::HashMap<(String, String), i64> = Default::default();
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            for chunk in messages.chunks(super::rows_per_statement(6)) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO inbound (gateway, provider_id, sender, text, received_at, stored_at) ",
                );
                qb.push_values(chunk, |mut b, m| {
                    b.push_bind(&m.gateway)
                        .push_bind(&m.provider_id)
                        .push_bind(&m.sender)
                        .push_bind(&m.text)
                        .push_bind(ts(m.received_at))
                        .push_bind(ts(now));
                });
                qb.push(" ON CONFLICT (gateway, provider_id) DO NOTHING RETURNING gateway, provider_id, id");
                let rows: Vec<(String, String, i64)> = qb
                    .build_query_as()
                    .persistent(super::full_chunk(chunk.len()))
                    .fetch_all(&mut *tx)
                    .await?;
                stored.extend(rows.into_iter().map(|(g, p, id)| ((g, p), id)));
            }
            tx.commit().await?;
        });
        Ok(messages
            .iter()
            .map(|m| stored.remove(&(m.gateway.clone(), m.provider_id.clone())))
            .collect())
    }

    pub async fn inbound(&self, id: i64) -> Result<InboundRow> {
        on_read!(self, db, {
            sqlx::query_as(&format!(
                "SELECT {INBOUND_COLUMNS} FROM inbound WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(db)
            .await?
        })
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))
    }

    /// Messages received, all told.
    pub async fn inbound_count(&self) -> Result<i64> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar("SELECT COUNT(*) FROM inbound WHERE processed_at IS NOT NULL")
                .fetch_one(db)
                .await?
        }))
    }

    /// Received messages not yet acted on (after a crash), oldest first.
    pub async fn unprocessed_inbound(&self, limit: i64) -> Result<Vec<i64>> {
        Ok(on_db!(self, db, {
            sqlx::query_scalar(
                "SELECT id FROM inbound WHERE processed_at IS NULL ORDER BY id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }

    /// Records what was done with received messages (each its id, what
    /// was done, and when), and writes the answer to each, in one
    /// transaction: until then a message is not done, and is acted on
    /// again after a crash.
    pub async fn finish_inbound(&self, done: &[(i64, InboundResult, DateTime<Utc>)]) -> Result<()> {
        // Unflushed: lost in a power cut, the message is acted on again
        // from what is on disk (it was stored, flushed, before it was
        // acknowledged), and its answer is written again under its key.
        // The answer reaches the disk before it goes out (a claim is
        // flushed).
        in_write!(self, tx, Flush::No, {
            for (id, r, now) in done {
                if let Some(visit) = r.confirm_visit {
                    sqlx::query(
                        "UPDATE visits SET confirmed_at = $1 WHERE id = $2 AND status = 'pending'",
                    )
                    .bind(ts(*now))
                    .bind(visit)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(m) = &r.reply {
                    insert_direct!(&mut *tx, m, *now);
                }
                sqlx::query(
                    "UPDATE inbound SET woman_id = $1, staff_id = $2, intent = $3, outcome = $4, needs_answer = $5,
                            assigned_to = $6, processed_at = $7 WHERE id = $8",
                )
                .bind(r.woman_id)
                .bind(r.staff_id)
                .bind(&r.intent)
                .bind(&r.outcome)
                .bind(r.needs_answer)
                .bind(&r.assigned_to)
                .bind(ts(*now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The woman a number (or a WeChat openid) belongs to. Phones are
    /// shared: among the women on one number, the one last messaged, else
    /// the one last registered.
    pub async fn woman_by_phone(&self, phone: &str) -> Result<Option<i64>> {
        Ok(self.woman_row_by_phone(phone).await?.map(|w| w.id))
    }

    /// As [`Self::woman_by_phone`], her row, in one query.
    pub async fn woman_row_by_phone(&self, phone: &str) -> Result<Option<WomanRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(
                "SELECT w.id, w.name, w.phone, w.language, w.village, w.officer_code, w.consent_at,
                        w.opted_out_at, w.wechat_openid, w.wechat_unfollowed_at
                 FROM women w
                 WHERE (w.phone = $1 OR w.wechat_openid = $1)
                 ORDER BY (SELECT MAX(o.id) FROM outbox o WHERE o.woman_id = w.id AND o.status NOT IN ('scheduled', 'cancelled', 'expired')) DESC NULLS LAST,
                          w.id DESC
                 LIMIT 1",
            )
            .bind(phone)
            .fetch_optional(db)
            .await?
        }))
    }

    /// Writes a reply or an alert; `false` when its key exists already.
    pub async fn enqueue_direct(&self, m: &DirectMessage, now: DateTime<Utc>) -> Result<bool> {
        let n = on_db!(self, db, { insert_direct!(db, m, now) });
        Ok(n == 1)
    }

    /// Questions waiting for an answer (of one officer, or all), or messages
    /// from unknown numbers.
    pub async fn inbox(&self, officer: Option<&str>, unknown: bool) -> Result<Vec<InboundRow>> {
        Ok(on_read!(self, db, {
            if unknown {
                sqlx::query_as(&format!(
                    "SELECT {INBOUND_COLUMNS} FROM inbound WHERE intent = 'unknown_sender' ORDER BY id"
                ))
                .fetch_all(db)
                .await?
            } else {
                sqlx::query_as(&format!(
                    "SELECT {INBOUND_COLUMNS} FROM inbound WHERE needs_answer AND answered_at IS NULL
                     AND (CAST($1 AS TEXT) IS NULL OR assigned_to = $1) ORDER BY id"
                ))
                .bind(officer)
                .fetch_all(db)
                .await?
            }
        }))
    }

    pub async fn mark_answered(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<()> {
        on_db!(self, db, {
            sqlx::query("UPDATE inbound SET answered_at = $1, answered_by = $2 WHERE id = $3")
                .bind(ts(now))
                .bind(by)
                .bind(id)
                .execute(db)
                .await?;
        });
        Ok(())
    }

    /// Everything to and from one woman, in order, with statuses.
    pub async fn conversation(&self, woman_id: i64) -> Result<Vec<ConversationItem>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            String,
            i64,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        )> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT 'out' AS dir, o.id, o.send_at AS at, o.body AS text, o.status AS status,
                            COALESCE(c.key || '/' || s.key, o.kind) AS detail
                     FROM outbox o LEFT JOIN campaign_steps s ON s.id = o.step_id LEFT JOIN campaigns c ON c.id = s.campaign_id
                     WHERE o.woman_id = $1
                     UNION ALL
                     SELECT 'in', i.id, i.received_at, i.text, i.intent, i.outcome FROM inbound i WHERE i.woman_id = $1
                     ORDER BY at, dir, id",
            )
            .bind(woman_id)
            .fetch_all(db)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(dir, id, at, text, status, detail)| ConversationItem {
                at: from_ts(at),
                direction: if dir == "in" { "in" } else { "out" },
                id,
                text,
                status,
                detail,
            })
            .collect())
    }

    /// Records an opt-in: clears the opt-out, and re-plans from now (future
    /// reminders resume under new keys; those missed meanwhile are not sent).
    /// Returns the pregnancies to plan, or `None` if she had not opted out.
    pub async fn opt_in(&self, woman_id: i64, now: DateTime<Utc>) -> Result<Option<Vec<i64>>> {
        Ok(on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            let r = sqlx::query("UPDATE women SET opted_out_at = NULL, opted_out_via = NULL, updated_at = $1 WHERE id = $2 AND opted_out_at IS NOT NULL AND erased_at IS NULL")
                .bind(ts(now))
                .bind(woman_id)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Ok(None);
            }
            let ids = super::enroll::replan_from!(tx, woman_id, now);
            tx.commit().await?;
            Some(ids)
        }))
    }

    /// Her next check-up, which a confirmation from her is about: the
    /// visit's (id, label in Chinese, label in English) if she has one
    /// coming. `finish_inbound` marks it confirmed (`confirm_visit`).
    pub async fn next_visit_to_confirm(
        &self,
        woman_id: i64,
        today: chrono::NaiveDate,
    ) -> Result<Option<(i64, String, String)>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(
                // Her visits are found first, by her pregnancies, then the
                // earliest taken: left to itself, PostgreSQL may walk every
                // pending visit in due order looking for hers (seconds at a
                // million pregnancies).
                "WITH hers AS MATERIALIZED (
                     SELECT v.id, v.due_on, v.label_zh, v.label_en FROM visits v
                       JOIN pregnancies p ON p.id = v.pregnancy_id
                     WHERE p.woman_id = $1 AND p.status IN ('active', 'delivered') AND v.status = 'pending'
                       AND v.window_end >= $2)
                 SELECT id, label_zh, label_en FROM hers ORDER BY due_on, id LIMIT 1",
            )
            .bind(woman_id)
            .bind(today)
            .fetch_optional(db)
            .await?
        }))
    }
}
