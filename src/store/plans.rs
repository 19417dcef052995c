//! Care plan definitions: the built-in ones and those an administrator adds.

use super::{on_db, on_read, Result, Store, StoreError};
use crate::domain::CarePlan;
use chrono::{DateTime, Utc};

impl Store {
    /// Writes the built-in plans (refreshing their definitions) and keeps custom ones.
    pub async fn seed_builtin_plans(&self, now: DateTime<Utc>) -> Result<()> {
        // One statement per plan, each whole: seeding again at the next
        // start finishes what a failed one left.
        for plan in crate::domain::careplan::builtin_plans() {
            on_db!(self, db, {
                sqlx::query(
                    "INSERT INTO care_plans (key, definition, builtin, updated_at) VALUES ($1, $2, TRUE, $3)
                     ON CONFLICT (key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
                     WHERE care_plans.builtin",
                )
                .bind(&plan.key)
                .bind(serde_json::to_string(&plan).expect("plan serialises"))
                .bind(super::ts(now))
                .execute(db)
                .await?
                .rows_affected()
            });
        }
        Ok(())
    }

    /// Adds or replaces an administrator's plan. Built-in plans cannot be replaced.
    pub async fn save_plan(&self, plan: &CarePlan, now: DateTime<Utc>) -> Result<()> {
        let changed = on_db!(self, db, {
            sqlx::query(
                "INSERT INTO care_plans (key, definition, builtin, updated_at) VALUES ($1, $2, FALSE, $3)
                 ON CONFLICT (key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
                 WHERE NOT care_plans.builtin",
            )
            .bind(&plan.key)
            .bind(serde_json::to_string(plan).expect("plan serialises"))
            .bind(super::ts(now))
            .execute(db)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::Conflict(format!(
                "{} is a built-in plan and cannot be replaced",
                plan.key
            )));
        }
        Ok(())
    }

    pub async fn plan(&self, key: &str) -> Result<CarePlan> {
        let def: Option<String> = on_read!(self, db, {
            sqlx::query_scalar("SELECT definition FROM care_plans WHERE key = $1")
                .bind(key)
                .fetch_optional(db)
                .await?
        });
        let def = def.ok_or_else(|| StoreError::NotFound(format!("care plan {key}")))?;
        serde_json::from_str(&def).map_err(|e| StoreError::Corrupt(format!("care plan {key}: {e}")))
    }

    pub async fn plans(&self) -> Result<Vec<(CarePlan, bool)>> {
        let rows: Vec<(String, bool)> = on_read!(self, db, {
            sqlx::query_as("SELECT definition, builtin FROM care_plans ORDER BY builtin DESC, key")
                .fetch_all(db)
                .await?
        });
        rows.into_iter()
            .map(|(d, b)| {
                serde_json::from_str(&d)
                    .map(|p| (p, b))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}
