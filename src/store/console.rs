//! What the web console reads and writes: passwords and sessions, the
//! women, messages and charts of one area, text versions, the audit log.
//! Every query that lists people takes an [`Area`], so no page can forget
//! to narrow to what the signed-in person may see.

use super::{from_ts, on_db, on_read, ts, Result, StaffRow, Store};
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

    /// A condition on `women w`, with `$9` bound by [`Area::bind`].
    fn clause(&self) -> &'static str {
        match self {
            Area::All => "TRUE",
            Area::Township(_) => {
                "w.officer_code IN (SELECT code FROM staff WHERE township = $9 AND role = 'officer')"
            }
            Area::Officer(_) => "w.officer_code = $9",
            Area::Nobody => "FALSE",
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
    /// Her risk grade: a colour (green, yellow, orange, red), `purple`,
    /// `high` (orange, red or purple), `none` (not yet assessed), or
    /// empty for any.
    pub risk: String,
    /// Her case manager's staff code (a manager's own cases), or empty.
    pub case_manager: String,
}

impl WomenFilter {
    /// A date bound as the query compares it: a real date, or none.
    fn day(s: &str) -> Option<NaiveDate> {
        crate::domain::dates::parse_date(s)
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
    /// Her latest pregnancy's risk colour (none: not yet assessed), and
    /// purple beside it: for her care team's list only, never a text.
    pub risk_colour: Option<String>,
    pub risk_purple: bool,
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
        on_db!(self, db, {
            sqlx::query("UPDATE staff SET password_hash = $1, password_set_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(ts(now))
                .bind(staff_id)
                .execute(db)
                .await?;
            // A new password signs every open session out.
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
                .bind(staff_id)
                .execute(db)
                .await?
                .rows_affected()
        });
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
        let hash: Option<String> = on_read!(self, db, {
            sqlx::query_scalar("SELECT password_hash FROM staff WHERE id = $1")
                .bind(s.id)
                .fetch_one(db)
                .await?
        });
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
        on_db!(self, db, {
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                .bind(ts(now))
                .execute(db)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, staff_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id_hash)
            .bind(staff_id)
            .bind(csrf)
            .bind(ts(now))
            .bind(ts(expires_at))
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// The staff member and CSRF token of a live session.
    pub async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(StaffRow, String)>> {
        let row: Option<(i64, String)> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT staff_id, csrf FROM sessions WHERE id_hash = $1 AND expires_at > $2",
            )
            .bind(id_hash)
            .bind(ts(now))
            .fetch_optional(db)
            .await?
        });
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
        on_db!(self, db, {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(db)
                .await?
                .rows_affected()
        });
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
        // No stored name, phone, village or code holds a NUL byte (the
        // register refuses control characters, and PostgreSQL's text cannot
        // hold one), so a filter with one matches no one; PostgreSQL would
        // refuse to take it as a parameter at all.
        if [
            &f.q,
            &f.village,
            &f.officer,
            &f.status,
            &f.risk,
            &f.case_manager,
        ]
        .iter()
        .any(|s| s.contains('\0'))
        {
            return Ok((vec![], 0));
        }
        let q = f.q.trim();
        // The dialects differ on finding a substring, matching digits and
        // taking a string's last characters.
        let d = self.dialect();
        let (contains, digits, last_q, last_4) = (
            d.contains("w.name", "$1"),
            d.all_digits("$1"),
            d.last_chars("w.phone", "length($1)"),
            d.last_chars("w.phone", "4"),
        );
        let filter = format!(
            "FROM women w
             LEFT JOIN pregnancies p ON p.id = (SELECT MAX(id) FROM pregnancies WHERE woman_id = w.id)
             WHERE w.erased_at IS NULL AND {}
               AND ($1 = '' OR {contains} OR w.village = $1
                    -- The last digits of her number, four at most: never a way to read it whole.
                    OR (length($1) BETWEEN 1 AND 4 AND {digits} AND {last_q} = $1))
               AND ($2 = '' OR w.village = $2)
               AND ($3 = '' OR w.officer_code = $3)
               AND ($4 = '' OR ($4 = 'opted_out' AND w.opted_out_at IS NOT NULL)
                    OR ($4 <> 'opted_out' AND p.status = $4))
               AND ($7 IS NULL OR p.edd >= $7) AND ($8 IS NULL OR p.edd <= $8)
               AND ($10 = '' OR p.risk_colour = $10
                    OR ($10 = 'purple' AND p.risk_purple)
                    OR ($10 = 'high' AND (p.risk_colour IN ('orange', 'red') OR p.risk_purple))
                    OR ($10 = 'none' AND p.id IS NOT NULL AND p.risk_colour IS NULL AND NOT p.risk_purple))
               AND ($11 = '' OR p.case_manager = $11)",
            area.clause()
        );
        let count_sql = format!("SELECT COUNT(*) AS n {filter}");
        let (edd_from, edd_to) = (WomenFilter::day(&f.edd_from), WomenFilter::day(&f.edd_to));
        // Every parameter in the place the SQL names: `$5` and `$6` the page.
        macro_rules! women {
            ($sql:expr, $limit:expr, $offset:expr) => {
                sqlx::query($sql)
                    .bind(q)
                    .bind(f.village.trim())
                    .bind(f.officer.trim())
                    .bind(f.status.trim())
                    .bind($limit)
                    .bind($offset)
                    .bind(edd_from)
                    .bind(edd_to)
                    .bind(area.bind())
                    .bind(f.risk.trim())
                    .bind(f.case_manager.trim())
            };
        }
        let sql = format!(
            "SELECT w.id, w.name, {last_4} AS tail, w.village, w.officer_code, w.opted_out_at,
                    p.status AS pstatus, p.edd, p.risk_colour, p.risk_purple
             {filter}
             ORDER BY w.id DESC LIMIT $5 OFFSET $6"
        );
        let (total, rows): (i64, Vec<WomanListRow>) = on_read!(self, db, {
            let total: i64 = women!(&count_sql, None::<i64>, None::<i64>)
                .fetch_one(db)
                .await?
                .try_get("n")?;
            let rows = women!(&sql, limit, offset.max(0))
                .fetch_all(db)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(WomanListRow {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        phone_tail: r.try_get("tail")?,
                        village: r.try_get("village")?,
                        officer_code: r.try_get("officer_code")?,
                        pregnancy_status: r.try_get("pstatus")?,
                        edd: r
                            .try_get::<Option<NaiveDate>, _>("edd")?
                            .map(|d| d.to_string()),
                        opted_out: r.try_get::<Option<i64>, _>("opted_out_at")?.is_some(),
                        risk_colour: r.try_get("risk_colour")?,
                        risk_purple: r
                            .try_get::<Option<bool>, _>("risk_purple")?
                            .unwrap_or(false),
                    })
                })
                .collect::<std::result::Result<_, sqlx::Error>>()?;
            (total, rows)
        });
        Ok((rows, total))
    }

    /// Whether woman `id` is in `area`.
    pub async fn woman_in_area(&self, area: &Area, id: i64) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM women w WHERE w.id = $1 AND w.erased_at IS NULL AND {}",
            area.clause()
        );
        Ok(on_read!(self, db, {
            pad!(sqlx::query(&sql).bind(id), 1)
                .bind(area.bind())
                .fetch_optional(db)
                .await?
                .is_some()
        }))
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
            "TRUE".to_string()
        } else {
            format!(
                "o.woman_id IN (SELECT w.id FROM women w WHERE {})",
                area.clause()
            )
        };
        let matching = format!(
            "FROM outbox o LEFT JOIN campaign_steps s ON s.id = o.step_id LEFT JOIN campaigns c ON c.id = s.campaign_id
             WHERE {who}
               AND ($1 IS NULL OR o.status = $1) AND ($2 IS NULL OR o.gateway = $2)
               AND ($3 IS NULL OR c.key = $3) AND ($4 IS NULL OR o.send_at >= $4) AND ($5 IS NULL OR o.send_at < $5)"
        );
        let count_sql = format!("SELECT COUNT(*) {matching}");
        let sql = format!(
            "SELECT o.id, o.woman_id, COALESCE(c.key || '/' || s.key, o.kind) AS step, o.status, o.channel,
                    o.gateway, o.send_at, o.body
             {matching}
             ORDER BY o.send_at DESC, o.id DESC LIMIT $6 OFFSET $7"
        );
        let (total, rows): (i64, Vec<LogRow>) = on_read!(self, db, {
            let total: i64 = bind_log!(sqlx::query_scalar(&count_sql), f, area, limit, offset)
                .fetch_one(db)
                .await?;
            let rows = bind_log!(sqlx::query_as(&sql), f, area, limit, offset)
                .fetch_all(db)
                .await?;
            (total, rows)
        });
        let rows = rows
            .into_iter()
            .map(
                |(id, woman_id, step, status, channel, gateway, send_at, body)| MessageLogRow {
                    id,
                    woman_id,
                    step,
                    status,
                    channel,
                    gateway,
                    send_at: from_ts(send_at),
                    body,
                },
            )
            .collect();
        Ok((rows, total))
    }

    /// A message's woman (for the area check) and its events in order.
    pub async fn message_events(
        &self,
        id: i64,
    ) -> Result<Option<(Option<i64>, Vec<(DateTime<Utc>, String, Option<String>)>)>> {
        let found: Option<(Option<i64>, Vec<EventRow>)> = on_read!(self, db, {
            let woman: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT woman_id FROM outbox WHERE id = $1")
                    .bind(id)
                    .fetch_optional(db)
                    .await?;
            match woman {
                None => None,
                Some((woman,)) => Some((
                    woman,
                    sqlx::query_as(
                        "SELECT at, status, cause FROM outbox_events WHERE outbox_id = $1 ORDER BY id",
                    )
                    .bind(id)
                    .fetch_all(db)
                    .await?,
                )),
            }
        });
        Ok(found.map(|(woman, events)| {
            (
                woman,
                events
                    .into_iter()
                    .map(|(at, s, c)| (from_ts(at), s, c))
                    .collect(),
            )
        }))
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
            "TRUE".to_string()
        } else {
            format!(
                "o.woman_id IN (SELECT w.id FROM women w WHERE {})",
                area.clause()
            )
        };
        let day = self.dialect().utc_day("o.send_at + $2");
        let sql = format!(
            "SELECT {day} AS day,
                    COUNT(*) FILTER (WHERE o.status IN ('accepted', 'sent', 'delivered')),
                    COUNT(*) FILTER (WHERE o.status = 'delivered'),
                    COUNT(*) FILTER (WHERE o.status = 'failed')
             FROM outbox o WHERE o.send_at >= $1 AND {who}
               AND o.status IN ('accepted', 'sent', 'delivered', 'failed')
             GROUP BY 1 ORDER BY 1"
        );
        let rows: Vec<(NaiveDate, i64, i64, i64)> = on_read!(self, db, {
            pad!(sqlx::query_as(&sql).bind(ts(from)).bind(offset_seconds), 2)
                .bind(area.bind())
                .fetch_all(db)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(day, sent, delivered, failed)| DayCounts {
                day,
                sent,
                delivered,
                failed,
            })
            .collect())
    }

    /// Saved versions of a step text, newest first.
    pub async fn text_versions(&self, step_id: i64, language: &str) -> Result<Vec<TextVersion>> {
        let rows: Vec<(i64, String, String, i64)> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT id, body, changed_by, changed_at FROM step_text_versions
                 WHERE step_id = $1 AND language = $2 ORDER BY id DESC",
            )
            .bind(step_id)
            .bind(language)
            .fetch_all(db)
            .await?
        });
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
        let holds = self.dialect().contains("action", "$2");
        let matching =
            format!("FROM audit_log WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR {holds})");
        let count_sql = format!("SELECT COUNT(*) {matching}");
        let sql = format!(
            "SELECT at, actor, action, subject, detail {matching} ORDER BY id DESC LIMIT $3 OFFSET $4"
        );
        let (total, rows): (i64, Vec<AuditTuple>) = on_read!(self, db, {
            let total: i64 = sqlx::query_scalar(&count_sql)
                .bind(actor.trim())
                .bind(action.trim())
                .fetch_one(db)
                .await?;
            let rows = sqlx::query_as(&sql)
                .bind(actor.trim())
                .bind(action.trim())
                .bind(limit)
                .bind(offset.max(0))
                .fetch_all(db)
                .await?;
            (total, rows)
        });
        let rows = rows
            .into_iter()
            .map(|(at, actor, action, subject, detail)| AuditRow {
                at: from_ts(at),
                actor,
                action,
                subject,
                detail,
            })
            .collect();
        Ok((rows, total))
    }
}

/// A message log row as read: id, woman, step, status, channel, gateway,
/// send time, body.
type LogRow = (
    i64,
    Option<i64>,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
);

/// A message's event as read: when, status, cause.
type EventRow = (i64, String, Option<String>);

/// An audit entry as read: when, actor, action, subject, detail.
type AuditTuple = (i64, String, String, Option<String>, Option<String>);

/// Binds NULL from `$bound + 1` to `$8`, so the next bind is `$9`, the
/// area's. A macro, so one body serves both backends' query types.
macro_rules! pad {
    ($q:expr, $bound:expr) => {{
        let mut q = $q;
        for _ in $bound..8 {
            q = q.bind(None::<String>);
        }
        q
    }};
}
use pad;

/// The message log's filters, page and area, in the places its SQL names.
macro_rules! bind_log {
    ($q:expr, $f:expr, $area:expr, $limit:expr, $offset:expr) => {
        pad!(
            $q.bind(&$f.status)
                .bind(&$f.gateway)
                .bind(&$f.campaign)
                .bind($f.from.map(ts))
                .bind($f.to.map(ts))
                .bind($limit)
                .bind($offset.max(0)),
            7
        )
        .bind($area.bind())
    };
}
use bind_log;

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
        Ok(on_read!(self, db, {
            let steps: Vec<(i64, String, String, i64, String, i64)> = sqlx::query_as(
                "SELECT s.id, s.key, s.anchor, s.offset_days, s.send_time, s.grace_hours
                 FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id WHERE c.key = $1 ORDER BY s.id",
            )
            .bind(campaign)
            .fetch_all(db)
            .await?;
            let mut out = Vec::with_capacity(steps.len());
            for (id, key, anchor, offset_days, send_time, grace_hours) in steps {
                let texts: Vec<(String, String)> = sqlx::query_as(
                    "SELECT language, body FROM step_texts WHERE step_id = $1 ORDER BY language DESC",
                )
                .bind(id)
                .fetch_all(db)
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
            out
        }))
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
        let rows: Vec<(i64, NaiveDate, NaiveDate, String, Option<NaiveDate>)> = on_read!(
            self,
            db,
            {
                sqlx::query_as(
                "SELECT id, lmp, edd, CASE WHEN moved_away_on IS NOT NULL THEN 'moved_away' ELSE status END AS status, delivered_on
                 FROM pregnancies WHERE woman_id = $1 ORDER BY id DESC",
            )
            .bind(woman_id)
            .fetch_all(db)
            .await?
            }
        );
        Ok(rows
            .into_iter()
            .map(|(id, lmp, edd, status, delivered_on)| PregnancyListRow {
                id,
                lmp: lmp.to_string(),
                edd: edd.to_string(),
                status,
                delivered_on: delivered_on.map(|d| d.to_string()),
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
                    COUNT(*) FILTER (WHERE v.status = 'done' AND v.done_on <= v.window_end),
                    COUNT(*) FILTER (WHERE v.status = 'done' AND v.done_on > v.window_end),
                    COUNT(*) FILTER (WHERE v.status = 'pending' AND v.window_end < $1
                                     AND p.status IN ('active', 'delivered'))
             FROM visits v JOIN pregnancies p ON p.id = v.pregnancy_id JOIN women w ON w.id = p.woman_id
             WHERE w.erased_at IS NULL AND NOT v.task AND {}
             GROUP BY 1 ORDER BY 1",
            area.clause()
        );
        let rows: Vec<(String, i64, i64, i64)> = on_read!(self, db, {
            pad!(sqlx::query_as(&sql).bind(overdue_before), 1)
                .bind(area.bind())
                .fetch_all(db)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(village, on_time, late, overdue)| VillageVisits {
                village,
                on_time,
                late,
                overdue,
            })
            .collect())
    }
}

impl Store {
    /// Opt-outs in `area` per week (`YYYY-Www`, weeks starting on Monday
    /// as strftime's `%W` counts them, local time by `offset_seconds`)
    /// since `from`.
    pub async fn opt_outs_per_week(
        &self,
        area: &Area,
        from: DateTime<Utc>,
        offset_seconds: i64,
    ) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT {} AS week, COUNT(*)
             FROM women w WHERE w.opted_out_at >= $1 AND {}
             GROUP BY 1 ORDER BY 1",
            self.dialect().utc_week("w.opted_out_at + $2"),
            area.clause()
        );
        Ok(on_read!(self, db, {
            pad!(sqlx::query_as(&sql).bind(ts(from)).bind(offset_seconds), 2)
                .bind(area.bind())
                .fetch_all(db)
                .await?
        }))
    }
}

impl Store {
    /// The outbox's state for `/metrics`: messages by status, channel and
    /// campaign (or kind), and the due queue's depth and oldest age.
    pub async fn metrics_snapshot(&self, now: DateTime<Utc>) -> Result<crate::metrics::Snapshot> {
        let messages: Vec<(String, String, String, String, i64)> = on_read!(self, db, {
            sqlx::query_as(
                "SELECT o.status, COALESCE(o.gateway, '-'), o.channel, COALESCE(c.key, o.kind), COUNT(*)
                 FROM outbox o LEFT JOIN campaign_steps s ON s.id = o.step_id LEFT JOIN campaigns c ON c.id = s.campaign_id
                 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            )
            .fetch_all(db)
            .await?
        });
        let (due, oldest): (i64, Option<i64>) = on_read!(self, db, {
            sqlx::query_as(
                "SELECT COUNT(*), MIN(send_at) FROM outbox WHERE status = 'scheduled' AND send_at <= $1",
            )
            .bind(ts(now))
            .fetch_one(db)
            .await?
        });
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
        Ok(on_read!(self, db, {
            sqlx::query_scalar(
                "SELECT id FROM women WHERE phone = $1 AND name = $2 AND erased_at IS NULL",
            )
            .bind(phone)
            .bind(name)
            .fetch_optional(db)
            .await?
        }))
    }
}
