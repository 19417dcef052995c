//! Care plan definitions: the built-in ones and those an administrator adds.

use super::{Result, Store, StoreError};
use crate::domain::CarePlan;
use chrono::{DateTime, Utc};

impl Store {
    /// Writes the built-in plans (refreshing their definitions) and keeps custom ones.
    pub async fn seed_builtin_plans(&self, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin().await?;
        for plan in crate::domain::careplan::builtin_plans() {
            sqlx::query(
                "INSERT INTO care_plans (key, definition, builtin, updated_at) VALUES (?, ?, 1, ?)
                 ON CONFLICT (key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
                 WHERE care_plans.builtin = 1",
            )
            .bind(&plan.key)
            .bind(serde_json::to_string(&plan).expect("plan serialises"))
            .bind(super::ts(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds or replaces an administrator's plan. Built-in plans cannot be replaced.
    pub async fn save_plan(&self, plan: &CarePlan, now: DateTime<Utc>) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO care_plans (key, definition, builtin, updated_at) VALUES (?, ?, 0, ?)
             ON CONFLICT (key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
             WHERE care_plans.builtin = 0",
        )
        .bind(&plan.key)
        .bind(serde_json::to_string(plan).expect("plan serialises"))
        .bind(super::ts(now))
        .execute(self.write()?)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "{} is a built-in plan and cannot be replaced",
                plan.key
            )));
        }
        Ok(())
    }

    pub async fn plan(&self, key: &str) -> Result<CarePlan> {
        let def: Option<String> =
            sqlx::query_scalar("SELECT definition FROM care_plans WHERE key = ?")
                .bind(key)
                .fetch_optional(self.read()?)
                .await?;
        let def = def.ok_or_else(|| StoreError::NotFound(format!("care plan {key}")))?;
        serde_json::from_str(&def).map_err(|e| StoreError::Corrupt(format!("care plan {key}: {e}")))
    }

    pub async fn plans(&self) -> Result<Vec<(CarePlan, bool)>> {
        let rows: Vec<(String, bool)> =
            sqlx::query_as("SELECT definition, builtin FROM care_plans ORDER BY builtin DESC, key")
                .fetch_all(self.read()?)
                .await?;
        rows.into_iter()
            .map(|(d, b)| {
                serde_json::from_str(&d)
                    .map(|p| (p, b))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}
