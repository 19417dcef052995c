//! What the web console reads and writes: passwords and sessions, the
//! women, messages and charts of one area, text versions, the audit log.
//! Every query that lists people takes an [`Area`], so no page can forget
//! to narrow to what the signed-in person may see.

use super::{from_ts, ts, Result, StaffRow, Store};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

/// Whose women a signed-in person may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// An administrator: the county.
    All,
    /// A supervisor: the women of every officer in her township.
    Township(String),
    /// An officer: her own women.
    Officer(String),
    /// A role or record that sees no one.
    Nobody,
}

impl Area {
    pub fn of(s: &StaffRow) -> Self {
        use crate::domain::Role;
        match (s.role, &s.township) {
            (Role::Admin, _) => Area::All,
            (Role::Supervisor, Some(t)) => Area::Township(t.clone()),
            (Role::Officer, _) => Area::Officer(s.code.clone()),
            (Role::Supervisor, None) => Area::Nobody,
        }
    }

    /// A condition on `women w`, with `?9` bound by [`Area::bind`].
    fn clause(&self) -> &'static str {
        match self {
            Area::All => "1",
            Area::Township(_) => {
                "w.officer_code IN (SELECT code FROM staff WHERE township = ?9 AND role = 'officer')"
            }
            Area::Officer(_) => "w.officer_code = ?9",
            Area::Nobody => "0",
        }
    }

    fn bind(&self) -> Option<&str> {
        match self {
            Area::Township(t) | Area::Officer(t) => Some(t),
            _ => None,
        }
    }
}

/// What a list of women is narrowed to; empty: no narrowing.
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
#[serde(default)]
pub struct WomenFilter {
    /// Name, the last digits of her phone, or a village.
    pub q: String,
    pub village: String,
    pub officer: String,
    /// A pregnancy status (active, delivered, ended, stale) or `opted_out`.
    pub status: String,
    /// Her latest pregnancy's due date from, and up to (both included),
    /// as YYYY-MM-DD; anything else is no narrowing.
    pub edd_from: String,
    pub edd_to: String,
}

impl WomenFilter {
    /// A date bound as the query compares it: a real date, or none.
    fn day(s: &str) -> String {
        crate::domain::dates::parse_date(s)
            .map(|d| d.to_string())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WomanListRow {
    pub id: i64,
    pub name: String,
    /// The last four digits only.
    pub phone_tail: String,
    pub village: Option<String>,
    pub officer_code: Option<String>,
    pub pregnancy_status: Option<String>,
    pub edd: Option<String>,
    pub opted_out: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageLogRow {
    pub id: i64,
    pub woman_id: Option<i64>,
    pub step: Option<String>,
    pub status: String,
    pub channel: String,
    pub gateway: Option<String>,
    pub send_at: DateTime<Utc>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MessageLogFilter {
    pub status: Option<String>,
    pub gateway: Option<String>,
    pub campaign: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayCounts {
    pub day: NaiveDate,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TextVersion {
    pub id: i64,
    pub body: String,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    pub async fn set_password(&self, staff_id: i64, hash: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE staff SET password_hash = ?, password_set_at = ? WHERE id = ?")
            .bind(hash)
            .bind(ts(now))
            .bind(staff_id)
            .execute(self.write()?)
            .await?;
        // A new password signs every open session out.
        sqlx::query("DELETE FROM sessions WHERE staff_id = ?")
            .bind(staff_id)
            .execute(self.write()?)
            .await?;
        Ok(())
    }

    /// A staff member by code, with the password hash.
    pub async fn staff_credentials(
        &self,
        code: &str,
    ) -> Result<Option<(StaffRow, Option<String>)>> {
        let Some(s) = self.staff_by_code(code).await? else {
            return Ok(None);
        };
        let hash: Option<String> =
            sqlx::query_scalar("SELECT password_hash FROM staff WHERE id = ?")
                .bind(s.id)
                .fetch_one(self.read()?)
                .await?;
        Ok(Some((s, hash)))
    }

    pub async fn create_session(
        &self,
        id_hash: &str,
        staff_id: i64,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(ts(now))
            .execute(self.write()?)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, staff_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(staff_id)
        .bind(csrf)
        .bind(ts(now))
        .bind(ts(expires_at))
        .execute(self.write()?)
        .await?;
        Ok(())
    }

    /// The staff member and CSRF token of a live session.
    pub async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(StaffRow, String)>> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT staff_id, csrf FROM sessions WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(id_hash)
        .bind(ts(now))
        .fetch_optional(self.read()?)
        .await?;
        let Some((staff_id, csrf)) = row else {
            return Ok(None);
        };
        let s = self
            .staff_list()
            .await?
            .into_iter()
            .find(|s| s.id == staff_id);
        Ok(s.map(|s| (s, csrf)))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(self.write()?)
            .await?;
        Ok(())
    }

    /// Women of `area` matching `f` (a search by name, last digits of the
    /// phone or village; a village, an officer, a status), newest first:
    /// `limit` of them from `offset`, and how many match in all.
    pub async fn search_women(
        &self,
        area: &Area,
        f: &WomenFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<WomanListRow>, i64)> {
        let q = f.q.trim();
        let filter = format!(
            "FROM women w
             LEFT JOIN pregnancies p ON p.id = (SELECT MAX(id) FROM pregnancies WHERE woman_id = w.id)
             WHERE w.erased_at IS NULL AND {}
               AND (?1 = '' OR instr(w.name, ?1) > 0 OR w.village = ?1
                    -- The last digits of her number, four at most: never a way to read it whole.
                    OR (length(?1) BETWEEN 1 AND 4 AND ?1 NOT GLOB '*[^0-9]*' AND substr(w.phone, -length(?1)) = ?1))
               AND (?2 = '' OR w.village = ?2)
               AND (?3 = '' OR w.officer_code = ?3)
               AND (?4 = '' OR (?4 = 'opted_out' AND w.opted_out_at IS NOT NULL)
                    OR (?4 <> 'opted_out' AND p.status = ?4))
               AND (?7 = '' OR p.edd >= ?7) AND (?8 = '' OR p.edd <= ?8)",
            area.clause()
        );
        fn bind4<'q>(sql: &'q str, q: &str, f: &WomenFilter) -> Query<'q> {
            sqlx::query(sql)
                .bind(q.to_string())
                .bind(f.village.trim().to_string())
                .bind(f.officer.trim().to_string())
                .bind(f.status.trim().to_string())
        }
        let count_sql = format!("SELECT COUNT(*) AS n {filter}");
        let (edd_from, edd_to) = (WomenFilter::day(&f.edd_from), WomenFilter::day(&f.edd_to));
        let total: i64 = bind4(&count_sql, q, f)
            .bind(None::<i64>)
            .bind(None::<i64>)
            .bind(&edd_from)
            .bind(&edd_to)
            .bind(area.bind())
            .fetch_one(self.read()?)
            .await?
            .get("n");
        let sql = format!(
            "SELECT w.id, w.name, substr(w.phone, -4) AS tail, w.village, w.officer_code, w.opted_out_at,
                    p.status AS pstatus, p.edd
             {filter}
             ORDER BY w.id DESC LIMIT ?5 OFFSET ?6"
        );
        let rows = bind4(&sql, q, f)
            .bind(limit)
            .bind(offset.max(0))
            .bind(&edd_from)
            .bind(&edd_to)
            .bind(area.bind())
            .fetch_all(self.read()?)
            .await?;
        let rows = rows
            .into_iter()
            .map(|r| WomanListRow {
                id: r.get("id"),
                name: r.get("name"),
                phone_tail: r.get("tail"),
                village: r.get("village"),
                officer_code: r.get("officer_code"),
                pregnancy_status: r.get("pstatus"),
                edd: r.get("edd"),
                opted_out: r.get::<Option<i64>, _>("opted_out_at").is_some(),
            })
            .collect();
        Ok((rows, total))
    }

    /// Whether woman `id` is in `area`.
    pub async fn woman_in_area(&self, area: &Area, id: i64) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM women w WHERE w.id = ?1 AND w.erased_at IS NULL AND {}",
            area.clause()
        );
        let q = sqlx::query(&sql).bind(id);
        Ok(pad(q, 1)
            .bind(area.bind())
            .fetch_optional(self.read()?)
            .await?
            .is_some())
    }

    /// One page of the messages to the women of `area` (all messages,
    /// staff's included, for an administrator) that match `f`, newest
    /// first, and how many match in all.
    pub async fn message_log(
        &self,
        area: &Area,
        f: &MessageLogFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<MessageLogRow>, i64)> {
        let who = if *area == Area::All {
            "1".to_string()
        } else {
            format!(
                "o.woman_id IN (SELECT w.id FROM women w WHERE {})",
                area.clause()
            )
        };
        let matching = format!(
            "FROM outbox o LEFT JOIN campaign_steps s ON s.id = o.step_id LEFT JOIN campaigns c ON c.id = s.campaign_id
             WHERE {who}
               AND (?1 IS NULL OR o.status = ?1) AND (?2 IS NULL OR o.gateway = ?2)
               AND (?3 IS NULL OR c.key = ?3) AND (?4 IS NULL OR o.send_at >= ?4) AND (?5 IS NULL OR o.send_at < ?5)"
        );
        let count_sql = format!("SELECT COUNT(*) {matching}");
        let total: i64 = bind_log(sqlx::query(&count_sql), f, area, limit, offset)
            .fetch_one(self.read()?)
            .await?
            .get(0);
        let sql = format!(
            "SELECT o.id, o.woman_id, COALESCE(c.key || '/' || s.key, o.kind) AS step, o.status, o.channel,
                    o.gateway, o.send_at, o.body
             {matching}
             ORDER BY o.send_at DESC, o.id DESC LIMIT ?6 OFFSET ?7"
        );
        let rows = bind_log(sqlx::query(&sql), f, area, limit, offset)
            .fetch_all(self.read()?)
            .await?
            .into_iter()
            .map(|r| MessageLogRow {
                id: r.get("id"),
                woman_id: r.get("woman_id"),
                step: r.get("step"),
                status: r.get("status"),
                channel: r.get("channel"),
                gateway: r.get("gateway"),
                send_at: from_ts(r.get("send_at")),
                body: r.get("body"),
            })
            .collect();
        Ok((rows, total))
    }

    /// A message's woman (for the area check) and its events in order.
    pub async fn message_events(
        &self,
        id: i64,
    ) -> Result<Option<(Option<i64>, Vec<(DateTime<Utc>, String, Option<String>)>)>> {
        let woman: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT woman_id FROM outbox WHERE id = ?")
                .bind(id)
                .fetch_optional(self.read()?)
                .await?;
        let Some((woman,)) = woman else {
            return Ok(None);
        };
        let events: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT at, status, cause FROM outbox_events WHERE outbox_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.read()?)
        .await?;
        Ok(Some((
            woman,
            events
                .into_iter()
                .map(|(at, s, c)| (from_ts(at), s, c))
                .collect(),
        )))
    }

    /// Messages handed over, delivered and failed per day (by send time,
    /// in UTC days of `offset_seconds`-shifted local time) from `from`.
    pub async fn daily_counts(
        &self,
        area: &Area,
        from: DateTime<Utc>,
        offset_seconds: i64,
    ) -> Result<Vec<DayCounts>> {
        let who = if *area == Area::All {
            "1".to_string()
        } else {
            format!(
                "o.woman_id IN (SELECT w.id FROM women w WHERE {})",
                area.clause()
            )
        };
        let sql = format!(
            "SELECT date(o.send_at + ?2, 'unixepoch') AS day,
                    SUM(o.status IN ('accepted', 'sent', 'delivered')), SUM(o.status = 'delivered'), SUM(o.status = 'failed')
             FROM outbox o WHERE o.send_at >= ?1 AND {who}
               AND o.status IN ('accepted', 'sent', 'delivered', 'failed')
             GROUP BY day ORDER BY day"
        );
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(&sql)
            .bind(ts(from))
            .bind(offset_seconds)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(area.bind())
            .fetch_all(self.read()?)
            .await?;
        rows.into_iter()
            .map(|(d, sent, delivered, failed)| {
                Ok(DayCounts {
                    day: super::parse_stored_date(&d)?,
                    sent,
                    delivered,
                    failed,
                })
            })
            .collect()
    }

    /// Saves a step text and keeps the version, in one transaction.
    pub async fn save_step_text(
        &self,
        step_id: i64,
        language: &str,
        body: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.set_step_text(step_id, language, body, now).await?;
        sqlx::query(
            "INSERT INTO step_text_versions (step_id, language, body, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(step_id)
        .bind(language)
        .bind(body)
        .bind(by)
        .bind(ts(now))
        .execute(self.write()?)
        .await?;
        Ok(())
    }

    /// Saved versions of a step text, newest first.
    pub async fn text_versions(&self, step_id: i64, language: &str) -> Result<Vec<TextVersion>> {
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT id, body, changed_by, changed_at FROM step_text_versions
             WHERE step_id = ? AND language = ? ORDER BY id DESC",
        )
        .bind(step_id)
        .bind(language)
        .fetch_all(self.read()?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, body, changed_by, at)| TextVersion {
                id,
                body,
                changed_by,
                changed_at: from_ts(at),
            })
            .collect())
    }

    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(self.audit_page("", "", limit, 0).await?.0)
    }

    /// One page of the audit log, newest first, narrowed to one member of
    /// staff (`actor`) and to actions holding `action` when they are not
    /// empty, and how many entries match in all.
    pub async fn audit_page(
        &self,
        actor: &str,
        action: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditRow>, i64)> {
        const MATCHING: &str =
            "FROM audit_log WHERE (?1 = '' OR actor = ?1) AND (?2 = '' OR instr(action, ?2) > 0)";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {MATCHING}"))
            .bind(actor.trim())
            .bind(action.trim())
            .fetch_one(self.read()?)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT at, actor, action, subject, detail {MATCHING} ORDER BY id DESC LIMIT ?3 OFFSET ?4"
        ))
        .bind(actor.trim())
        .bind(action.trim())
        .bind(limit)
        .bind(offset.max(0))
        .fetch_all(self.read()?)
        .await?
        .into_iter()
        .map(|r| AuditRow {
            at: from_ts(r.get("at")),
            actor: r.get("actor"),
            action: r.get("action"),
            subject: r.get("subject"),
            detail: r.get("detail"),
        })
        .collect();
        Ok((rows, total))
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The message log's filters, page and area, in the places its SQL names.
fn bind_log<'q>(
    q: Query<'q>,
    f: &'q MessageLogFilter,
    area: &'q Area,
    limit: i64,
    offset: i64,
) -> Query<'q> {
    let q = q
        .bind(&f.status)
        .bind(&f.gateway)
        .bind(&f.campaign)
        .bind(f.from.map(ts))
        .bind(f.to.map(ts))
        .bind(limit)
        .bind(offset.max(0));
    pad(q, 7).bind(area.bind())
}

/// Binds NULL from `bound + 1` to 8, so the next bind is `?9`, the area's.
fn pad(mut q: Query<'_>, bound: usize) -> Query<'_> {
    for _ in bound..8 {
        q = q.bind(None::<String>);
    }
    q
}

#[derive(Debug, Clone, Serialize)]
pub struct StepEditRow {
    pub id: i64,
    pub key: String,
    pub anchor: String,
    pub offset_days: i64,
    pub send_time: String,
    pub grace_hours: i64,
    /// (language, text), every language that has one.
    pub texts: Vec<(String, String)>,
}

impl Store {
    /// One campaign's steps with their texts, for the editor.
    pub async fn campaign_steps_for_edit(&self, campaign: &str) -> Result<Vec<StepEditRow>> {
        let steps: Vec<(i64, String, String, i64, String, i64)> = sqlx::query_as(
            "SELECT s.id, s.key, s.anchor, s.offset_days, s.send_time, s.grace_hours
             FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id WHERE c.key = ? ORDER BY s.id",
        )
        .bind(campaign)
        .fetch_all(self.read()?)
        .await?;
        let mut out = Vec::with_capacity(steps.len());
        for (id, key, anchor, offset_days, send_time, grace_hours) in steps {
            let texts: Vec<(String, String)> = sqlx::query_as(
                "SELECT language, body FROM step_texts WHERE step_id = ? ORDER BY language DESC",
            )
            .bind(id)
            .fetch_all(self.read()?)
            .await?;
            out.push(StepEditRow {
                id,
                key,
                anchor,
                offset_days,
                send_time,
                grace_hours,
                texts,
            });
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PregnancyListRow {
    pub id: i64,
    pub lmp: String,
    pub edd: String,
    pub status: String,
    pub delivered_on: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VillageVisits {
    pub village: String,
    pub on_time: i64,
    pub late: i64,
    pub overdue: i64,
}

impl Store {
    pub async fn pregnancies_of(&self, woman_id: i64) -> Result<Vec<PregnancyListRow>> {
        let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, lmp, edd, status, delivered_on FROM pregnancies WHERE woman_id = ? ORDER BY id DESC",
        )
        .bind(woman_id)
        .fetch_all(self.read()?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, lmp, edd, status, delivered_on)| PregnancyListRow {
                id,
                lmp,
                edd,
                status,
                delivered_on,
            })
            .collect())
    }

    /// Per village of `area`: visits done by the end of their window, done
    /// after it, and still pending past `overdue_before` (window end).
    pub async fn visits_by_village(
        &self,
        area: &Area,
        overdue_before: NaiveDate,
    ) -> Result<Vec<VillageVisits>> {
        let sql = format!(
            "SELECT COALESCE(w.village, '-') AS village,
                    SUM(v.status = 'done' AND v.done_on <= v.window_end),
                    SUM(v.status = 'done' AND v.done_on > v.window_end),
                    SUM(v.status = 'pending' AND v.window_end < ?1 AND p.status IN ('active', 'delivered'))
             FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id JOIN women w ON w.id = p.woman_id
             WHERE w.erased_at IS NULL AND v.task = 0 AND {}
             GROUP BY 1 ORDER BY 1",
            area.clause()
        );
        let q = sqlx::query(&sql).bind(super::date_str(overdue_before));
        let rows = pad(q, 1).bind(area.bind()).fetch_all(self.read()?).await?;
        Ok(rows
            .into_iter()
            .map(|r| VillageVisits {
                village: r.get(0),
                on_time: r.get::<Option<i64>, _>(1).unwrap_or(0),
                late: r.get::<Option<i64>, _>(2).unwrap_or(0),
                overdue: r.get::<Option<i64>, _>(3).unwrap_or(0),
            })
            .collect())
    }
}

impl Store {
    /// Opt-outs in `area` per ISO week (`YYYY-Www`, local time by
    /// `offset_seconds`) since `from`.
    pub async fn opt_outs_per_week(
        &self,
        area: &Area,
        from: DateTime<Utc>,
        offset_seconds: i64,
    ) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT strftime('%Y-W%W', w.opted_out_at + ?2, 'unixepoch') AS week, COUNT(*)
             FROM women w WHERE w.opted_out_at >= ?1 AND {}
             GROUP BY week ORDER BY week",
            area.clause()
        );
        let q = sqlx::query(&sql).bind(ts(from)).bind(offset_seconds);
        let rows = pad(q, 2).bind(area.bind()).fetch_all(self.read()?).await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl Store {
    /// The outbox's state for `/metrics`: messages by status, channel and
    /// campaign (or kind), and the due queue's depth and oldest age.
    pub async fn metrics_snapshot(&self, now: DateTime<Utc>) -> Result<crate::metrics::Snapshot> {
        let messages: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT o.status, COALESCE(o.gateway, '-'), o.channel, COALESCE(c.key, o.kind), COUNT(*)
             FROM outbox o LEFT JOIN campaign_steps s ON s.id = o.step_id LEFT JOIN campaigns c ON c.id = s.campaign_id
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        )
        .fetch_all(self.read()?)
        .await?;
        let (due, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(send_at) FROM outbox WHERE status = 'scheduled' AND send_at <= ?",
        )
        .bind(ts(now))
        .fetch_one(self.read()?)
        .await?;
        Ok(crate::metrics::Snapshot {
            messages,
            due,
            oldest_due_seconds: oldest.map(|o| (ts(now) - o).max(0)).unwrap_or(0),
            last_success: vec![],
        })
    }
}

impl Store {
    /// The woman registered with this number (E.164) and name, if any.
    pub async fn woman_by_phone_and_name(&self, phone: &str, name: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM women WHERE phone = ? AND name = ? AND erased_at IS NULL",
        )
        .bind(phone)
        .bind(name)
        .fetch_optional(self.read()?)
        .await?)
    }
}
