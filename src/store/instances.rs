//! Who serves from this database: each running `serve`, with the settings
//! every instance must share (`serving_instances`).

use super::{on_db, on_read, ts, BeginWrite, Result, Store};
use chrono::{DateTime, Utc};

/// One `careminder serve` on this database.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceRow {
    /// Unique per start: host, pid and a random part.
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: i64,
    /// When it last said it runs (Unix seconds).
    pub seen_at: i64,
    /// The settings every instance must share, as JSON.
    pub settings: String,
}

impl Store {
    /// Every instance that said it runs within `lease_seconds` of `now`,
    /// the earliest started first.
    pub async fn live_instances(
        &self,
        now: DateTime<Utc>,
        lease_seconds: i64,
    ) -> Result<Vec<InstanceRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(
                "SELECT id, host, pid, started_at, seen_at, settings FROM serving_instances
                 WHERE seen_at >= $1 ORDER BY started_at, id",
            )
            .bind(ts(now) - lease_seconds)
            .fetch_all(db)
            .await?
        }))
    }

    /// Records `me` as serving (again, after a renewal found its row gone),
    /// and forgets instances not seen for a day.
    pub async fn register_instance(&self, me: &InstanceRow) -> Result<()> {
        on_db!(self, db, {
            let mut tx = db.begin_write().await?;
            sqlx::query(
                "INSERT INTO serving_instances (id, host, pid, started_at, seen_at, settings)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(&me.id)
            .bind(&me.host)
            .bind(me.pid)
            .bind(me.started_at)
            .bind(me.seen_at)
            .bind(&me.settings)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM serving_instances WHERE seen_at < $1")
                .bind(me.seen_at - 86_400)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Says instance `id` still runs; false when its row is gone.
    pub async fn renew_instance(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(on_db!(self, db, {
            sqlx::query("UPDATE serving_instances SET seen_at = $2 WHERE id = $1")
                .bind(id)
                .bind(ts(now))
                .execute(db)
                .await?
                .rows_affected()
                == 1
        }))
    }

    /// Instance `id` stopped.
    pub async fn forget_instance(&self, id: &str) -> Result<()> {
        on_db!(self, db, {
            sqlx::query("DELETE FROM serving_instances WHERE id = $1")
                .bind(id)
                .execute(db)
                .await?;
        });
        Ok(())
    }
}
