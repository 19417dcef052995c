//! Staff: officers, supervisors, administrators.

use super::{ts, Result, Store, StoreError};
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
        let r = sqlx::query_scalar::<_, i64>(
            "INSERT INTO staff (code, name, phone, role, language, village, township, wecom_userid, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .fetch_all(&self.write)
        .await;
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
        sqlx::query("UPDATE staff SET language = ? WHERE id = ?")
            .bind(language)
            .bind(staff_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn staff_list(&self) -> Result<Vec<StaffRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM staff ORDER BY code"))
                .fetch_all(&self.read)
                .await?,
        )
    }

    pub async fn staff_by_code(&self, code: &str) -> Result<Option<StaffRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM staff WHERE code = ?"))
                .bind(code)
                .fetch_optional(&self.write)
                .await?,
        )
    }

    /// Staff members using this number (normally one).
    pub async fn staff_by_phone(&self, phone: &str) -> Result<Option<StaffRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM staff WHERE phone = ? ORDER BY id LIMIT 1"
        ))
        .bind(phone)
        .fetch_optional(&self.write)
        .await?)
    }
}
