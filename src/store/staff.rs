//! Staff: officers, supervisors, administrators.

use super::{from_ts, on_db, on_read, ts, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StaffRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: crate::domain::Role,
    pub language: crate::domain::Language,
    pub village: Option<String>,
    pub township: Option<String>,
    /// WeCom user id: digests and alerts go there when WeCom is configured.
    pub wecom_userid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewStaff {
    pub code: String,
    pub name: String,
    pub phone: Option<crate::domain::Phone>,
    pub role: crate::domain::Role,
    pub language: crate::domain::Language,
    pub village: Option<String>,
    pub township: Option<String>,
    pub wecom_userid: Option<String>,
}

const COLUMNS: &str = "id, code, name, phone, role, language, village, township, wecom_userid";

impl Store {
    pub async fn add_staff(&self, s: &NewStaff, now: DateTime<Utc>) -> Result<i64> {
        // fetch_all: the statement runs to its end, so a failed commit is seen.
        let r: std::result::Result<Vec<i64>, sqlx::Error> = on_db!(self, db, {
            sqlx::query_scalar(
                "INSERT INTO staff (code, name, phone, role, language, village, township, wecom_userid, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&s.code)
            .bind(&s.name)
            .bind(s.phone.as_ref().map(|p| p.as_str()))
            .bind(s.role)
            .bind(s.language)
            .bind(&s.village)
            .bind(&s.township)
            .bind(&s.wecom_userid)
            .bind(ts(now))
            .fetch_all(db)
            .await
        });
        match r {
            Ok(ids) => ids
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Corrupt("a staff member was not stored".into())),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("staff code {} exists already", s.code),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The language a member of staff reads careminder in (the console's
    /// words, her alerts and digests).
    pub async fn set_staff_language(
        &self,
        staff_id: i64,
        language: crate::domain::Language,
    ) -> Result<()> {
        on_db!(self, db, {
            sqlx::query("UPDATE staff SET language = $1 WHERE id = $2")
                .bind(language)
                .bind(staff_id)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    pub async fn staff_list(&self) -> Result<Vec<StaffRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM staff ORDER BY code"))
                .fetch_all(db)
                .await?
        }))
    }

    pub async fn staff_by_code(&self, code: &str) -> Result<Option<StaffRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM staff WHERE code = $1"))
                .bind(code)
                .fetch_optional(db)
                .await?
        }))
    }

    /// Staff members using this number (normally one).
    pub async fn staff_by_phone(&self, phone: &str) -> Result<Option<StaffRow>> {
        Ok(on_read!(self, db, {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM staff WHERE phone = $1 ORDER BY id LIMIT 1"
            ))
            .bind(phone)
            .fetch_optional(db)
            .await?
        }))
    }

    /// A key's failed sign-ins and when the last was.
    pub async fn sign_in_failures(&self, key: &str) -> Result<Option<(i64, DateTime<Utc>)>> {
        let row: Option<(i64, i64)> = on_db!(self, db, {
            sqlx::query_as("SELECT failures, last_at FROM sign_in_failures WHERE key = $1")
                .bind(key)
                .fetch_optional(db)
                .await?
        });
        Ok(row.map(|(n, at)| (n, from_ts(at))))
    }

    /// One more failed sign-in for `key`; failures last seen before
    /// `forget_before` start again from one, and are purged.
    pub async fn sign_in_failed(
        &self,
        key: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()> {
        // Two statements, each whole on its own: the purge of other keys
        // need not share the count's transaction.
        on_db!(self, db, {
            sqlx::query("DELETE FROM sign_in_failures WHERE last_at <= $1 AND key <> $2")
                .bind(ts(forget_before))
                .bind(key)
                .execute(db)
                .await?;
            sqlx::query(
                "INSERT INTO sign_in_failures (key, failures, last_at) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET
                    failures = CASE WHEN sign_in_failures.last_at <= $3 THEN 1
                                    ELSE sign_in_failures.failures + 1 END,
                    last_at = $2",
            )
            .bind(key)
            .bind(ts(now))
            .bind(ts(forget_before))
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    pub async fn forget_sign_in_failures(&self, key: &str) -> Result<()> {
        on_db!(self, db, {
            sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
                .bind(key)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
