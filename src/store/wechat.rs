//! WeChat bindings: which women follow the Official Account, and the
//! callbacks that could not be read.

use super::{on_db, on_read, ts, Result, Store, StoreError};
use chrono::{DateTime, Duration, Utc};

impl Store {
    /// Binds `openid` to a woman (she scanned her QR code): her reminders
    /// go to WeChat from now on. `false` when she is unknown or erased, or
    /// bound to another WeChat user who still follows the account (someone
    /// else scanning her card takes nothing over; her officer unbinds first).
    pub async fn bind_wechat(
        &self,
        woman_id: i64,
        openid: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_db!(self, db, {
            sqlx::query(
                "UPDATE women SET wechat_openid = $2, wechat_bound_at = $3, wechat_unfollowed_at = NULL, updated_at = $3
                 WHERE id = $1 AND erased_at IS NULL
                   AND (wechat_openid IS NULL OR wechat_openid = $2 OR wechat_unfollowed_at IS NOT NULL)",
            )
            .bind(woman_id)
            .bind(openid)
            .bind(ts(now))
            .execute(db)
            .await?
            .rows_affected()
        });
        if n == 1 {
            self.audit(
                now,
                "wechat",
                "wechat_bound",
                &format!("woman:{woman_id}"),
                "scanned her QR code",
            )
            .await?;
        }
        Ok(n == 1)
    }

    /// Unbinds her WeChat (a new phone, a wrong scan): SMS from now on,
    /// until she scans her card again.
    pub async fn unbind_wechat(&self, woman_id: i64, by: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = on_db!(self, db, {
            sqlx::query(
                "UPDATE women SET wechat_openid = NULL, wechat_bound_at = NULL, wechat_unfollowed_at = NULL, updated_at = $2
                 WHERE id = $1 AND wechat_openid IS NOT NULL",
            )
            .bind(woman_id)
            .bind(ts(now))
            .execute(db)
            .await?
            .rows_affected()
        });
        if n == 1 {
            self.audit(now, by, "wechat_unbound", &format!("woman:{woman_id}"), "")
                .await?;
        }
        Ok(n == 1)
    }

    /// She follows the account again (or unfollowed: `following` false);
    /// returns the women bound to `openid`.
    pub async fn set_wechat_following(
        &self,
        openid: &str,
        following: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let ids: Vec<i64> = on_db!(self, db, {
            sqlx::query_scalar(
                "UPDATE women SET wechat_unfollowed_at = CASE WHEN $2 THEN NULL ELSE $3 END, updated_at = $3
                 WHERE wechat_openid = $1 AND erased_at IS NULL
                 RETURNING id",
            )
            .bind(openid)
            .bind(following)
            .bind(ts(now))
            .fetch_all(db)
            .await?
        });
        for id in &ids {
            let what = if following {
                "wechat_followed"
            } else {
                "wechat_unfollowed"
            };
            self.audit(now, "wechat", what, &format!("woman:{id}"), "")
                .await?;
        }
        Ok(ids)
    }

    /// Keeps a callback that could not be read, for inspection.
    pub async fn keep_rejected_webhook(
        &self,
        gateway: &str,
        reason: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        // fetch_all: the statement runs to its end, so a failed commit is seen.
        let ids: Vec<i64> = on_db!(self, db, {
            sqlx::query_scalar(
                "INSERT INTO webhook_rejects (gateway, reason, body, received_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(gateway)
            .bind(reason)
            .bind(body)
            .bind(ts(now))
            .fetch_all(db)
            .await?
        });
        ids.into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("a reject was not stored".into()))
    }

    /// Rejected callbacks kept, newest first: (id, gateway, reason, body, when).
    pub async fn rejected_webhooks(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, Vec<u8>, i64)>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(
                "SELECT id, gateway, reason, body, received_at FROM webhook_rejects ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }

    /// Forgets rejected callbacks older than 30 days (they may hold what
    /// a woman wrote).
    pub async fn purge_rejected_webhooks(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_db!(self, db, {
            sqlx::query("DELETE FROM webhook_rejects WHERE received_at < $1")
                .bind(ts(now - Duration::days(30)))
                .execute(db)
                .await?
                .rows_affected()
        }))
    }
}
