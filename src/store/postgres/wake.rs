//! Wake-ups across instances: PostgreSQL's `LISTEN`/`NOTIFY`. An instance
//! that takes a registration, a reply or an edit wakes its own scheduler
//! and announces it on [`CHANNEL`]; every other instance listening there
//! wakes too, so what arrived anywhere is acted on at once everywhere.

use super::super::{Db, Result, Store};
use sqlx::postgres::{PgListener, PgPool};

/// The channel instances announce on.
pub const CHANNEL: &str = "careminder_wake";

/// This instance's end of the channel: announces its wake-ups, hears the
/// others'. Its own announcements come back to it and are ignored.
pub struct WakeChannel {
    pool: PgPool,
    listener: PgListener,
    /// Tells this instance's announcements from the others'.
    me: String,
}

impl Store {
    /// The wake-up channel, on PostgreSQL; `None` on SQLite, where one
    /// process serves a file and wakes itself.
    pub async fn wake_channel(&self) -> Result<Option<WakeChannel>> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(WakeChannel {
            pool: pool.clone(),
            listener,
            me: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
        }))
    }
}

impl WakeChannel {
    /// Tells the other instances to look for work now.
    pub async fn announce(&self) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&self.me)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Waits for another instance's announcement. A lost connection is
    /// reconnected and answered as a wake-up: what was announced meanwhile
    /// is unknown, so the caller looks for work.
    pub async fn heard(&mut self) -> Result<()> {
        loop {
            match self.listener.try_recv().await? {
                Some(n) if n.payload() == self.me => continue,
                _ => return Ok(()),
            }
        }
    }
}
