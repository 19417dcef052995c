//! What China's cloud SMS providers leave unsettled (`early_reports`,
//! `sends_in_doubt`): a status report pushed before its send was recorded,
//! kept until a send's result names its provider id; and a send whose
//! answer was lost, which the provider may have taken.

use super::{on_db, ts, Result, Store};
use crate::domain::{ReportedStatus, StatusReport};
use chrono::{DateTime, Duration, Utc};

/// How long a report nobody's send claims is kept.
const KEEP_EARLY_REPORTS: i64 = 7;

fn reported(status: &str) -> Option<ReportedStatus> {
    Some(match status {
        "accepted" => ReportedStatus::Accepted,
        "sent" => ReportedStatus::Sent,
        "delivered" => ReportedStatus::Delivered,
        "failed" => ReportedStatus::Failed,
        _ => return None,
    })
}

impl Store {
    /// Keeps a report for `provider_id`, which no message of `gateway`
    /// carries yet (a send whose result is still being written), then
    /// applies every kept report whose send is recorded by now: so a
    /// result written meanwhile is not missed. A report pushed again is
    /// kept once. Returns how many kept reports were applied.
    pub async fn keep_early_report(
        &self,
        gateway: &str,
        provider_id: &str,
        status: ReportedStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        on_db!(self, db, {
            sqlx::query(
                "INSERT INTO early_reports (gateway, provider_id, status, reason, at, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(gateway)
            .bind(provider_id)
            .bind(status.as_str())
            .bind(reason)
            .bind(ts(at))
            .bind(ts(now))
            .execute(db)
            .await?
            .rows_affected()
        });
        self.apply_early_reports(now).await
    }

    /// Applies the kept reports whose send is now recorded (the message
    /// carrying that provider id on that gateway), forward only like any
    /// report, and forgets them, and those a week old. Called when a
    /// batch's results are written and when a report is kept.
    pub async fn apply_early_reports(&self, now: DateTime<Utc>) -> Result<u64> {
        let rows: Vec<(i64, String, String, String, Option<String>, i64)> = on_db!(self, db, {
            sqlx::query_as(
                "SELECT o.id, e.gateway, e.provider_id, e.status, e.reason, e.at
                 FROM early_reports e
                 JOIN outbox o ON o.gateway = e.gateway AND o.provider_id = e.provider_id",
            )
            .fetch_all(db)
            .await?
        });
        let reports: Vec<StatusReport> = rows
            .iter()
            .filter_map(|(id, gateway, _, status, reason, at)| {
                Some(StatusReport {
                    message_id: *id,
                    status: reported(status)?,
                    reason: reason.clone(),
                    at: super::from_ts(*at),
                    gateway: Some(gateway.clone()),
                })
            })
            .collect();
        let changed = self.apply_status_reports(&reports).await?;
        for (_, gateway, provider_id, ..) in &rows {
            on_db!(self, db, {
                sqlx::query("DELETE FROM early_reports WHERE gateway = $1 AND provider_id = $2")
                    .bind(gateway)
                    .bind(provider_id)
                    .execute(db)
                    .await?
                    .rows_affected()
            });
        }
        on_db!(self, db, {
            sqlx::query("DELETE FROM early_reports WHERE received_at < $1")
                .bind(ts(now - Duration::days(KEEP_EARLY_REPORTS)))
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(changed)
    }

    /// Reports kept for a gateway, not yet claimed by any send: (provider
    /// id, status).
    pub async fn early_reports(&self, gateway: &str) -> Result<Vec<(String, String)>> {
        Ok(on_db!(self, db, {
            sqlx::query_as(
                "SELECT provider_id, status FROM early_reports WHERE gateway = $1 ORDER BY provider_id",
            )
            .bind(gateway)
            .fetch_all(db)
            .await?
        }))
    }

    /// Notes that `gateway` may have taken message `id` in an attempt that
    /// began at `since`; an earlier note stands.
    pub async fn doubt_send(&self, gateway: &str, id: i64, since: DateTime<Utc>) -> Result<()> {
        on_db!(self, db, {
            sqlx::query(
                "INSERT INTO sends_in_doubt (gateway, message_id, since) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(gateway)
            .bind(id)
            .bind(ts(since))
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Since when `gateway` may have taken message `id`, if it may have.
    pub async fn send_doubted_since(
        &self,
        gateway: &str,
        id: i64,
    ) -> Result<Option<DateTime<Utc>>> {
        let since: Option<i64> = on_db!(self, db, {
            sqlx::query_scalar(
                "SELECT since FROM sends_in_doubt WHERE gateway = $1 AND message_id = $2",
            )
            .bind(gateway)
            .bind(id)
            .fetch_optional(db)
            .await?
        });
        Ok(since.map(super::from_ts))
    }

    /// The provider's records settled it: forgets the doubt.
    pub async fn settle_send(&self, gateway: &str, id: i64) -> Result<()> {
        on_db!(self, db, {
            sqlx::query("DELETE FROM sends_in_doubt WHERE gateway = $1 AND message_id = $2")
                .bind(gateway)
                .bind(id)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Which of `provider_ids` a message of `gateway` is recorded with.
    pub async fn recorded_provider_ids(
        &self,
        gateway: &str,
        provider_ids: &[String],
    ) -> Result<Vec<String>> {
        if provider_ids.is_empty() {
            return Ok(vec![]);
        }
        let set = self.dialect().json_set_of("$2", "TEXT");
        let sql =
            format!("SELECT provider_id FROM outbox WHERE gateway = $1 AND provider_id IN {set}");
        Ok(on_db!(self, db, {
            sqlx::query_scalar(&sql)
                .bind(gateway)
                .bind(serde_json::to_string(provider_ids).expect("json"))
                .fetch_all(db)
                .await?
        }))
    }
}
