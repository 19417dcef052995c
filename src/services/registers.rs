//! Registers kept elsewhere, imported: a hospital's delivery register
//! (分娩登记, 住院分娩实名登记) and a clinic's check-up register (产前检查登记),
//! read like a roster (`importer::open_table`: xlsx/xls, CSV in UTF-8 or
//! GBK/GB18030, the roster's date forms). Each row is matched to a
//! registered pregnancy by her ID card number where the row holds one, else
//! her phone, else her name with her date of birth or expected date, and
//! recorded through [`Care::record_birth`] or [`Care::record_visit`], the
//! paths recording by hand takes, under the same rules. A row recorded
//! before is "already recorded"; a row that matches no one or several women
//! waits in the "to match" list (`register_rows`) for a person to match,
//! register or dismiss it, each audited.

use super::care::{BirthInput, Care, EXTRA_CHECKUP};
use super::importer::{
    columns_of, excel_serial_date, open_table, runaway, ImportError, RefusedRow,
};
use super::AppError;
use crate::domain::dates::parse_date;
use crate::domain::{IdCard, Phone};
use crate::store::{Candidate, RegisterRow};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;

/// Which register a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A hospital's delivery register: one birth a row.
    Deliveries,
    /// A clinic's check-up register: one prenatal check-up a row.
    Checkups,
}

impl Kind {
    /// As stored in `register_rows.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deliveries => "delivery",
            Kind::Checkups => "checkup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "deliveries" | "delivery" => Some(Kind::Deliveries),
            "checkups" | "checkup" => Some(Kind::Checkups),
            _ => None,
        }
    }

    fn columns(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Kind::Deliveries => DELIVERY_COLUMNS,
            Kind::Checkups => CHECKUP_COLUMNS,
        }
    }

    /// The field holding the day of what the row records.
    fn day_field(self) -> &'static str {
        match self {
            Kind::Deliveries => "delivered_on",
            Kind::Checkups => "checked_on",
        }
    }
}

/// A delivery register's columns in each header form, by field.
pub const DELIVERY_COLUMNS: &[(&str, &[&str])] = &[
    ("name", &["name", "姓名", "产妇姓名"]),
    ("id_card", &["id_card", "身份证号", "身份证号码", "身份证"]),
    ("phone", &["phone", "手机号", "手机", "电话", "联系电话"]),
    ("born_on", &["date_of_birth", "dob", "出生日期"]),
    ("edd", &["edd", "预产期"]),
    (
        "delivered_on",
        &["delivered_on", "delivery_date", "分娩日期"],
    ),
    ("outcome", &["outcome", "妊娠结局", "分娩结局"]),
    ("live_born", &["live_born", "活产数"]),
    (
        "place",
        &["place", "hospital", "分娩地点", "分娩机构", "医院"],
    ),
    (
        "discharged_on",
        &["discharged_on", "discharge_date", "出院日期"],
    ),
];

/// A check-up register's columns in each header form, by field.
pub const CHECKUP_COLUMNS: &[(&str, &[&str])] = &[
    ("name", &["name", "姓名", "孕妇姓名"]),
    ("id_card", &["id_card", "身份证号", "身份证号码", "身份证"]),
    ("phone", &["phone", "手机号", "手机", "电话", "联系电话"]),
    ("born_on", &["date_of_birth", "dob", "出生日期"]),
    ("edd", &["edd", "预产期"]),
    ("checked_on", &["checked_on", "checkup_date", "检查日期"]),
    ("place", &["place", "clinic", "检查地点", "检查机构"]),
    (
        "contact",
        &["contact", "checkup_number", "产检次数", "第几次产检"],
    ),
];

/// What an import did, row by row.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegisterReport {
    /// Births or check-ups recorded by this import.
    pub recorded: u64,
    /// Rows whose birth or check-up was recorded before (by an earlier
    /// import or by hand): nothing changed.
    pub already_recorded: u64,
    /// Rows put in the "to match" list by this import.
    pub waiting: Vec<WaitingRow>,
    /// Rows already in the "to match" list (waiting or decided).
    pub already_listed: u64,
    pub refused: Vec<RefusedRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitingRow {
    pub line: u64,
    /// Its id in the "to match" list.
    pub id: i64,
    pub reason: String,
}

/// A row's facts, checked: who it is about and what it records.
#[derive(Debug, Clone)]
struct Facts {
    name: Option<String>,
    id_card: Option<IdCard>,
    phone: Option<Phone>,
    born_on: Option<NaiveDate>,
    edd: Option<NaiveDate>,
    /// The day of the birth or the check-up.
    on: NaiveDate,
    place: Option<String>,
    live_birth: bool,
    live_born: Option<i64>,
    discharged_on: Option<NaiveDate>,
    /// A check-up's number in her plan (1-based).
    contact: Option<i64>,
}

/// What matching found.
enum Found {
    One(i64),
    None,
    Several(Vec<i64>),
}

fn date_of(fields: &BTreeMap<String, String>, f: &str) -> Result<Option<NaiveDate>, String> {
    match fields.get(f) {
        None => Ok(None),
        Some(v) => parse_date(v)
            .map(Some)
            .ok_or_else(|| format!("{f}: not a date: {v:?}")),
    }
}

/// Checks a row's fields (no database): every reason it cannot be read.
fn facts(kind: Kind, fields: &BTreeMap<String, String>, care: &Care) -> Result<Facts, String> {
    let id_card = fields
        .get("id_card")
        .map(|c| IdCard::parse(c).map_err(|e| format!("id_card: {e}")))
        .transpose()?;
    let phone = fields
        .get("phone")
        .map(|p| Phone::parse(p, care.config.region()).map_err(|e| format!("phone: {e}")))
        .transpose()?;
    let name = fields.get("name").cloned();
    if id_card.is_none() && phone.is_none() && name.is_none() {
        return Err("no ID card number, phone or name: the row names no one".into());
    }
    let day = kind.day_field();
    let on = date_of(fields, day)?.ok_or_else(|| format!("{day}: empty"))?;
    let live_birth = match fields.get("outcome").map(|s| s.trim().to_lowercase()) {
        None => true,
        Some(o) => match o.as_str() {
            "live" | "live birth" | "活产" | "活" => true,
            "still" | "stillbirth" | "死产" | "死胎" | "死胎死产" => false,
            _ => {
                return Err(format!(
                    "outcome: {o:?} is neither live (活产) nor still (死产)"
                ))
            }
        },
    };
    let live_born = fields
        .get("live_born")
        .map(|n| {
            n.parse::<i64>()
                .map_err(|_| format!("live_born: not a number: {n:?}"))
        })
        .transpose()?;
    let contact = fields
        .get("contact")
        .map(|c| {
            let digits: String = c.chars().filter(char::is_ascii_digit).collect();
            digits
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=20).contains(n))
                .ok_or_else(|| format!("contact: not a check-up's number: {c:?}"))
        })
        .transpose()?;
    Ok(Facts {
        name,
        id_card,
        phone,
        born_on: date_of(fields, "born_on")?,
        edd: date_of(fields, "edd")?,
        on,
        place: fields.get("place").cloned(),
        live_birth,
        live_born,
        discharged_on: date_of(fields, "discharged_on")?,
        contact,
    })
}

/// A row's fingerprint: its register and recognised fields, so the same
/// row imported again (from the same file or a copy) is known.
fn fingerprint(kind: Kind, fields: &BTreeMap<String, String>) -> String {
    use sha2::Digest;
    let json = serde_json::to_string(fields).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(format!("{}\n{json}", kind.as_str())))
}

/// Imports a register file read from `reader`; `source` names it (the
/// file's name), `actor` is who imports (a staff code, or the
/// administrator from the command line).
pub async fn import<R: Read>(
    care: &Care,
    kind: Kind,
    reader: R,
    source: &str,
    actor: &str,
) -> Result<RegisterReport, ImportError> {
    // Read whole before anything is written (a register is an office's
    // file, not a province's roster): the reader is not held across awaits.
    let (read, mut report) = read_rows(kind, reader)?;
    let rows = read.len();
    for (line, fields) in read {
        let outcome = import_row(care, kind, &fields, source, line, actor).await;
        match outcome {
            Ok(RowOutcome::Recorded) => report.recorded += 1,
            Ok(RowOutcome::AlreadyRecorded) => report.already_recorded += 1,
            Ok(RowOutcome::AlreadyListed) => report.already_listed += 1,
            Ok(RowOutcome::Waiting { id, reason }) => {
                report.waiting.push(WaitingRow { line, id, reason })
            }
            Err(RowError::Refused(reason)) => report.refused.push(RefusedRow { line, reason }),
            Err(RowError::App(e)) => return Err(ImportError::App(e)),
        }
    }
    report.refused.sort_by_key(|r| r.line);
    if rows == 0 && report.refused.is_empty() {
        return Err(ImportError::Empty);
    }
    care.store
        .audit(
            care.clock.now(),
            actor,
            "register_import",
            &format!("{}:{source}", kind.as_str()),
            &format!(
                "recorded {} already {} waiting {} listed {} refused {}",
                report.recorded,
                report.already_recorded,
                report.waiting.len(),
                report.already_listed,
                report.refused.len()
            ),
        )
        .await
        .map_err(AppError::from)?;
    Ok(report)
}

type Fields = BTreeMap<String, String>;

/// A register's rows as read: each with its line and its recognised,
/// non-empty fields; unreadable rows already refused in the report.
fn read_rows<R: Read>(
    kind: Kind,
    reader: R,
) -> Result<(Vec<(u64, Fields)>, RegisterReport), ImportError> {
    let mut rdr = open_table(reader)?;
    let headers = rdr.headers()?.clone();
    let col = columns_of(&headers, kind.columns());
    if !col.contains_key(kind.day_field()) {
        return Err(ImportError::MissingColumn(kind.day_field()));
    }
    if !["id_card", "phone", "name"]
        .iter()
        .any(|f| col.contains_key(f))
    {
        return Err(ImportError::MissingColumn("id_card, phone or name"));
    }
    let mut report = RegisterReport::default();
    let mut out = vec![];
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.record() + 1).unwrap_or(0);
                report.refused.push(RefusedRow {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        }
        let line = record.position().map(|p| p.record() + 1).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if let Some(reason) = runaway(&record) {
            report.refused.push(RefusedRow { line, reason });
            continue;
        }
        let fields: Fields = col
            .iter()
            .filter_map(|(f, i)| {
                let v = record.get(*i)?.trim();
                (!v.is_empty()).then(|| {
                    let v = if f.ends_with("_on") || *f == "edd" {
                        excel_serial_date(v.to_string())
                    } else {
                        v.to_string()
                    };
                    (f.to_string(), v)
                })
            })
            .collect();
        out.push((line, fields));
    }
    Ok((out, report))
}

enum RowOutcome {
    Recorded,
    AlreadyRecorded,
    AlreadyListed,
    Waiting { id: i64, reason: String },
}

enum RowError {
    /// The row is refused, with its reason; nothing of it was recorded.
    Refused(String),
    /// The database failed: the import stops.
    App(AppError),
}

impl From<AppError> for RowError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Refused(r) => RowError::Refused(r),
            AppError::Input(e) => RowError::Refused(e.to_string()),
            AppError::Forbidden(r) => RowError::Refused(r),
            AppError::Store(crate::store::StoreError::NotFound(what)) => {
                RowError::Refused(format!("{what}: not yours to record, or gone"))
            }
            other => RowError::App(other),
        }
    }
}

impl From<crate::store::StoreError> for RowError {
    fn from(e: crate::store::StoreError) -> Self {
        RowError::App(e.into())
    }
}

async fn import_row(
    care: &Care,
    kind: Kind,
    fields: &BTreeMap<String, String>,
    source: &str,
    line: u64,
    actor: &str,
) -> Result<RowOutcome, RowError> {
    let facts = facts(kind, fields, care).map_err(RowError::Refused)?;
    let fp = fingerprint(kind, fields);
    if care
        .store
        .register_row_by_fingerprint(kind.as_str(), &fp)
        .await?
        .is_some()
    {
        return Ok(RowOutcome::AlreadyListed);
    }
    match find(care, &facts).await? {
        Found::One(woman_id) => record(care, kind, woman_id, &facts, actor).await,
        found => {
            let reason = match found {
                Found::Several(ids) => format!(
                    "{} registered women match it (women {})",
                    ids.len(),
                    ids.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => "no registered pregnancy matches it".to_string(),
            };
            let json = serde_json::to_string(fields).unwrap_or_default();
            let id = care
                .store
                .add_register_row(
                    kind.as_str(),
                    source,
                    line as i64,
                    &fp,
                    &json,
                    &reason,
                    care.clock.now(),
                )
                .await?;
            Ok(match id {
                Some(id) => RowOutcome::Waiting { id, reason },
                None => RowOutcome::AlreadyListed,
            })
        }
    }
}

/// The woman a row is about: by ID card number; else by phone (narrowed
/// to the row's name when several share the number, and only a woman of
/// that name when the row gives one); else by name with her date of birth
/// (from her ID card number) or expected date. A woman whose stored ID
/// card number differs from the row's is never it.
async fn find(care: &Care, f: &Facts) -> Result<Found, RowError> {
    let other_card = |c: &Candidate| match (&f.id_card, &c.id_card) {
        (Some(mine), Some(theirs)) => mine.as_str() != theirs,
        _ => false,
    };
    let decide = |ids: Vec<i64>| match ids.len() {
        0 => Found::None,
        1 => Found::One(ids[0]),
        _ => Found::Several(ids),
    };
    if let Some(card) = &f.id_card {
        let by_card = care
            .store
            .register_candidates("id_card", card.as_str())
            .await?;
        if !by_card.is_empty() {
            return Ok(decide(by_card.iter().map(|c| c.woman_id).collect()));
        }
    }
    if let Some(phone) = &f.phone {
        let mut by_phone: Vec<Candidate> = care
            .store
            .register_candidates("phone", phone.as_str())
            .await?
            .into_iter()
            .filter(|c| !other_card(c))
            .collect();
        if !by_phone.is_empty() {
            if let Some(name) = &f.name {
                let named: Vec<Candidate> = by_phone
                    .iter()
                    .filter(|c| &c.name == name)
                    .cloned()
                    .collect();
                if named.is_empty() && by_phone.len() == 1 {
                    // Her phone, another name: not guessed.
                    return Ok(Found::None);
                }
                if !named.is_empty() {
                    by_phone = named;
                }
            }
            return Ok(decide(by_phone.iter().map(|c| c.woman_id).collect()));
        }
    }
    if let (Some(name), true) = (&f.name, f.born_on.is_some() || f.edd.is_some()) {
        let ids = care
            .store
            .register_candidates("name", name)
            .await?
            .into_iter()
            .filter(|c| !other_card(c))
            .filter(|c| {
                let born = c
                    .id_card
                    .as_deref()
                    .and_then(|s| IdCard::parse(s).ok())
                    .map(|c| c.born_on());
                f.edd == Some(c.edd) || (f.born_on.is_some() && born == f.born_on)
            })
            .map(|c| c.woman_id)
            .collect();
        return Ok(decide(ids));
    }
    Ok(Found::None)
}

/// Records a row's birth or check-up for `woman_id` the way recording by
/// hand does; one already recorded is left as it is.
async fn record(
    care: &Care,
    kind: Kind,
    woman_id: i64,
    f: &Facts,
    actor: &str,
) -> Result<RowOutcome, RowError> {
    let now = care.clock.now();
    match kind {
        Kind::Deliveries => {
            if let Some(day) = care.store.birth_recorded_on(woman_id).await? {
                if day == f.on {
                    return Ok(RowOutcome::AlreadyRecorded);
                }
                return Err(RowError::Refused(format!(
                    "woman {woman_id}'s birth is recorded already on {day}, not {}",
                    f.on
                )));
            }
            let birth = BirthInput {
                on: f.on.to_string(),
                place: f.place.clone(),
                live_birth: f.live_birth,
                live_born: f.live_born,
                discharged_on: f.discharged_on.map(|d| d.to_string()),
            };
            care.record_birth(woman_id, &birth, actor).await?;
        }
        Kind::Checkups => {
            if care.store.checkup_done_on(woman_id, f.on).await? {
                return Ok(RowOutcome::AlreadyRecorded);
            }
            let contact = match f.contact {
                Some(n) => match care.store.nth_checkup(woman_id, n).await? {
                    Some((key, status)) if status == "pending" => key,
                    Some(_) => {
                        return Err(RowError::Refused(format!(
                            "check-up {n} of woman {woman_id} is recorded already on another day"
                        )))
                    }
                    None => EXTRA_CHECKUP.to_string(),
                },
                None => care
                    .store
                    .pending_checkup_for(woman_id, f.on)
                    .await?
                    .unwrap_or_else(|| EXTRA_CHECKUP.to_string()),
            };
            care.record_visit(
                woman_id,
                Some(&contact),
                Some(&f.on.to_string()),
                actor,
                f.place.as_deref(),
                None,
            )
            .await?;
        }
    }
    // The register knows her ID card number and her record did not: kept,
    // so that the next register finds her by it.
    if let Some(card) = &f.id_card {
        if care.store.woman_by_id_card(card.as_str()).await?.is_none() {
            care.store.set_id_card(woman_id, card.as_str(), now).await?;
        }
    }
    Ok(RowOutcome::Recorded)
}

/// What a person decides for a waiting row.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// She is this registered woman: the row is recorded for her.
    Match { woman_id: i64 },
    /// She is not registered: registered from the row (with what is given
    /// here beside it), then the row recorded for her.
    Register {
        #[serde(flatten)]
        input: Box<super::enrollment::EnrollmentInput>,
    },
    /// The row is for no one careminder follows.
    Dismiss,
}

/// What became of a decided row.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub row: i64,
    pub status: &'static str,
    pub woman_id: Option<i64>,
}

/// Decides a row of the "to match" list; `reason` is required and kept
/// with the row and in the audit log.
pub async fn decide(
    care: &Care,
    row_id: i64,
    decision: &Decision,
    reason: &str,
    by: &str,
) -> Result<Decided, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::Refused("reason: say why".into()));
    }
    if reason.chars().count() > 500 {
        return Err(AppError::Refused("reason: at most 500 characters".into()));
    }
    let row = waiting_row(care, row_id).await?;
    let kind = Kind::parse(&row.kind).expect("a stored kind");
    let fields: BTreeMap<String, String> =
        serde_json::from_str(&row.fields).map_err(|e| AppError::Refused(e.to_string()))?;
    let facts = facts(kind, &fields, care).map_err(AppError::Refused)?;
    let now = care.clock.now();
    let (status, woman_id) = match decision {
        Decision::Dismiss => ("dismissed", None),
        Decision::Match { woman_id } => {
            let w = care.store.woman(*woman_id).await?;
            care.access.check_care_team(by, &w).await?;
            recorded(record(care, kind, *woman_id, &facts, by).await)?;
            ("matched", Some(*woman_id))
        }
        Decision::Register { input } => {
            let mut input = input.clone();
            let take = |v: &mut Option<String>, f: &str| {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    *v = fields.get(f).cloned();
                }
            };
            if input.name.trim().is_empty() {
                input.name = fields.get("name").cloned().unwrap_or_default();
            }
            if input.phone.trim().is_empty() {
                input.phone = fields.get("phone").cloned().unwrap_or_default();
            }
            take(&mut input.id_card, "id_card");
            take(&mut input.edd, "edd");
            let staff = care.access.staff(by).await;
            let out = match staff {
                Ok(s) => care.register_by(&s, *input, "register").await?,
                Err(_) if by == super::access::CLI_ADMIN => {
                    care.enroll(&input, "register", by).await?
                }
                Err(e) => return Err(e),
            };
            let woman_id = out.woman_id();
            recorded(record(care, kind, woman_id, &facts, by).await)?;
            ("registered", Some(woman_id))
        }
    };
    if !care
        .store
        .resolve_register_row(row_id, status, woman_id, by, reason, now)
        .await?
    {
        return Err(AppError::Refused(format!(
            "row {row_id} was decided already"
        )));
    }
    care.store
        .audit(
            now,
            by,
            &format!("register_row_{status}"),
            &format!("register_row:{row_id}"),
            &match woman_id {
                Some(w) => format!("woman:{w}; {reason}"),
                None => reason.to_string(),
            },
        )
        .await?;
    Ok(Decided {
        row: row_id,
        status,
        woman_id,
    })
}

fn recorded(r: Result<RowOutcome, RowError>) -> Result<(), AppError> {
    match r {
        Ok(_) => Ok(()),
        Err(RowError::Refused(reason)) => Err(AppError::Refused(reason)),
        Err(RowError::App(e)) => Err(e),
    }
}

async fn waiting_row(care: &Care, row_id: i64) -> Result<RegisterRow, AppError> {
    let row = care
        .store
        .register_row(row_id)
        .await?
        .ok_or_else(|| crate::store::StoreError::NotFound(format!("register row {row_id}")))?;
    if row.status != "waiting" {
        return Err(AppError::Refused(format!(
            "row {row_id} was decided already ({})",
            row.status
        )));
    }
    Ok(row)
}

/// The rows waiting, for the console and the API. ID card numbers shown masked.
pub async fn waiting(care: &Care) -> Result<Vec<RegisterRow>, AppError> {
    let mut rows = care.store.waiting_register_rows().await?;
    for r in &mut rows {
        if let Ok(mut fields) = serde_json::from_str::<BTreeMap<String, String>>(&r.fields) {
            if let Some(c) = fields.get_mut("id_card") {
                *c = crate::domain::id_card::mask(c);
            }
            if let Some(p) = fields.get_mut("phone") {
                *p = crate::domain::phone::mask(p);
            }
            r.fields = serde_json::to_string(&fields).unwrap_or_default();
        }
    }
    Ok(rows)
}
