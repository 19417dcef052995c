//! Roster import: a county's CSV (English or Chinese header) checked row by
//! row. Every refused row is reported with its line number and reason;
//! accepted rows are committed in batches; importing the same file again
//! changes nothing, and a row whose dates changed corrects them.

use super::care::Care;
use crate::domain::risk::Grade;
use crate::services::enrollment::{validate, EnrollmentInput};
use crate::store::EnrollOutcome;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::Read;

/// Column names in each header form, by field.
pub const COLUMNS: &[(&str, &[&str])] = &[
    ("name", &["name", "姓名"]),
    ("phone", &["phone", "手机号", "手机", "电话"]),
    ("lmp", &["lmp", "末次月经"]),
    ("edd", &["edd", "预产期"]),
    ("village", &["village", "村"]),
    ("officer", &["officer", "责任人"]),
    ("language", &["language", "语言"]),
    ("wechat_openid", &["wechat_openid", "微信openid", "openid"]),
    ("consent", &["consent", "知情同意", "同意"]),
    ("care_plan", &["care_plan", "管理方案"]),
    ("id_card", &["id_card", "身份证号", "身份证号码", "身份证"]),
    (
        "risk",
        &[
            "risk",
            "risk_grade",
            "妊娠风险",
            "风险等级",
            "风险分级",
            "风险评估",
        ],
    ),
    ("risk_date", &["risk_date", "评估日期", "风险评估日期"]),
];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefusedRow {
    /// 1-based row as a spreadsheet shows it (the header is row 1): the
    /// line in a plain file, and still the right row when a cell holds a
    /// line break or the file ends its lines with a bare CR (Excel for Mac).
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Rows registered for the first time.
    pub created: u64,
    /// Rows registered before with the same dates.
    pub unchanged: u64,
    /// Rows registered before whose dates were corrected.
    pub corrected: u64,
    /// Accepted rows without consent: kept for the care team, sent nothing.
    pub without_consent: u64,
    /// Rows whose risk grade (the `risk` column) was recorded: a first
    /// grade, or one other than her current one (the same grade again is
    /// not a new assessment).
    pub graded: u64,
    pub refused: Vec<RefusedRow>,
    /// Accepted rows whose officer code names no member of staff: kept,
    /// but her overdue visits reach no officer until that code is added.
    pub unknown_officer: Vec<UnknownOfficer>,
}

/// An accepted row naming an officer the staff list does not hold.
#[derive(Debug, Clone, Serialize)]
pub struct UnknownOfficer {
    /// The row, counted as in [`RefusedRow::line`].
    pub line: u64,
    pub officer: String,
}

impl ImportReport {
    pub fn accepted(&self) -> u64 {
        self.created + self.unchanged + self.corrected
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("the header has no {0} column")]
    MissingColumn(&'static str),
    #[error("the file is empty")]
    Empty,
    #[error("reading the workbook: {0}")]
    Workbook(String),
    #[error(transparent)]
    App(#[from] crate::services::AppError),
}

const BATCH: usize = 2000;
/// Rows written by one import past which PostgreSQL's statistics are
/// refreshed at its end.
const ANALYZE_AFTER: u64 = 5000;

/// What each row of a roster is checked against, and whom its records
/// name as their source.
#[derive(Clone, Copy)]
pub struct Checks<'a> {
    pub config: &'a crate::config::Config,
    pub plans: &'a HashMap<String, crate::domain::CarePlan>,
    /// Staff codes a row's officer may name; with none entered yet, no row
    /// is flagged.
    pub officers: &'a HashSet<String>,
    pub now: chrono::DateTime<chrono::Utc>,
    pub source: &'a str,
    pub actor: &'a str,
}

/// What the reading stage hands the writer: a batch of validated rows,
/// the refusals met while reading it, and how far into the file it got.
pub struct Parsed {
    pub rows: Vec<crate::store::NewEnrollment>,
    /// Each row's line, in the order of `rows`.
    pub lines: Vec<u64>,
    /// Each row's risk grade and the day it was assessed, when the roster
    /// has a `risk` column and the row a grade in it.
    pub grades: Vec<Option<(Grade, NaiveDate)>>,
    pub refused: Vec<RefusedRow>,
    pub unknown_officer: Vec<UnknownOfficer>,
    pub without_consent: u64,
    pub bytes: u64,
}

/// Imports a roster; `progress` is told the bytes read so far.
///
/// Two stages run at once: a thread parses and validates the CSV (phone
/// numbers, dates, care plans: CPU work) while this task writes the previous
/// batch, so a two-core server keeps both cores busy.
pub async fn import<R: Read + Send + 'static>(
    app: &Care,
    reader: R,
    source: &str,
    actor: &str,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let plans = app.plans().await?;
    // Officer codes a row may name. With no staff entered yet there is
    // nothing to check a code against, and no row is flagged.
    let officers: HashSet<String> = app
        .store
        .staff_list()
        .await
        .map_err(crate::services::AppError::from)?
        .into_iter()
        .map(|s| s.code)
        .collect();
    let now = app.clock.now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Parsed, ImportError>>(1);
    let config = app.config.clone();
    let (source_owned, actor_owned) = (source.to_string(), actor.to_string());
    let reading = std::thread::spawn(move || {
        let checks = Checks {
            config: &config,
            plans: &plans,
            officers: &officers,
            now,
            source: &source_owned,
            actor: &actor_owned,
        };
        if let Err(e) = read_batches(reader, &checks, |batch| tx.blocking_send(Ok(batch)).is_ok()) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut report = ImportReport::default();
    let mut outcome = Ok(());
    while let Some(parsed) = rx.recv().await {
        let step = match parsed {
            Ok(mut p) => {
                report.refused.append(&mut p.refused);
                report.unknown_officer.append(&mut p.unknown_officer);
                report.without_consent += p.without_consent;
                let r = flush(app, &mut p, &mut report, source, actor).await;
                progress(p.bytes);
                r
            }
            Err(e) => Err(e),
        };
        if let Err(e) = step {
            outcome = Err(e);
            break;
        }
    }
    // Dropping the receiver stops the reader at its next batch.
    drop(rx);
    if reading.join().is_err() {
        // The reader died: what it had not handed over is not imported.
        return Err(ImportError::App(crate::services::AppError::Refused(
            "the roster could not be read to the end; nothing after the last written batch was imported".into(),
        )));
    }
    outcome?;
    if report.created + report.corrected >= ANALYZE_AFTER {
        // On PostgreSQL a province's roster changes the tables' sizes many
        // times over; the planner's statistics are refreshed now, not when
        // autovacuum next looks, so the plan that follows runs on a sound
        // query plan. (Nothing on SQLite.)
        app.store
            .analyze()
            .await
            .map_err(crate::services::AppError::from)?;
    }
    report.refused.sort_by_key(|r| r.line);
    report.unknown_officer.sort_by_key(|r| r.line);
    app.store
        .audit(
            now,
            actor,
            "import",
            source,
            &format!(
                "created {} unchanged {} corrected {} refused {}",
                report.created,
                report.unchanged,
                report.corrected,
                report.refused.len()
            ),
        )
        .await
        .map_err(crate::services::AppError::from)?;
    Ok(report)
}

/// The reading stage: parses, validates and de-duplicates rows, handing
/// them to `sink` in batches. Stops early when `sink` answers false (the
/// writer has gone). Touches no database: the fuzz target drives it too.
pub fn read_batches<R: Read>(
    reader: R,
    checks: &Checks<'_>,
    mut sink: impl FnMut(Parsed) -> bool,
) -> Result<(), ImportError> {
    let Checks {
        config,
        plans,
        officers,
        now,
        source,
        actor,
    } = *checks;
    let mut rdr = open_table(reader)?;
    let headers = rdr.headers()?.clone();
    let col = columns_of(&headers, COLUMNS);
    for required in ["name", "phone"] {
        if !col.contains_key(required) {
            return Err(ImportError::MissingColumn(required));
        }
    }
    let fresh = || Parsed {
        rows: Vec::with_capacity(BATCH),
        lines: Vec::with_capacity(BATCH),
        grades: Vec::with_capacity(BATCH),
        refused: vec![],
        unknown_officer: vec![],
        without_consent: 0,
        bytes: 0,
    };
    let mut batch = fresh();
    // (phone, name) -> first line, kept as a 64-bit hash so that a
    // province-sized file does not hold every key in memory.
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.record() + 1).unwrap_or(0);
                batch.refused.push(RefusedRow {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        }
        let line = record.position().map(|p| p.record() + 1).unwrap_or(0);
        if let Some(reason) = runaway(&record) {
            batch.refused.push(RefusedRow { line, reason });
            continue;
        }
        let get = |f: &str| col.get(f).and_then(|i| record.get(*i)).map(str::to_string);
        let input = EnrollmentInput {
            name: get("name").unwrap_or_default(),
            phone: get("phone").unwrap_or_default(),
            lmp: get("lmp").map(excel_serial_date),
            edd: get("edd").map(excel_serial_date),
            village: get("village"),
            officer: get("officer"),
            language: get("language"),
            wechat_openid: get("wechat_openid"),
            consent: get("consent"),
            care_plan: get("care_plan"),
            id_card: get("id_card"),
            delivered_on: None,
        };
        let checked = validate(&input, config, plans, now, source, actor)
            .map_err(|e| e.to_string())
            .and_then(|e| {
                let grade = risk_of_row(get("risk"), get("risk_date"), &e, config, now)?;
                Ok((e, grade))
            });
        match checked {
            Err(reason) => batch.refused.push(RefusedRow { line, reason }),
            Ok((e, grade)) => {
                let key = {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (e.phone.as_str(), e.name.as_str()).hash(&mut h);
                    h.finish()
                };
                if let Some(first) = seen.get(&key) {
                    batch.refused.push(RefusedRow {
                        line,
                        reason: format!("same woman and phone as line {first}"),
                    });
                    continue;
                }
                seen.insert(key, line);
                if let Some(code) = &e.officer_code {
                    if !officers.is_empty() && !officers.contains(code) {
                        batch.unknown_officer.push(UnknownOfficer {
                            line,
                            officer: code.clone(),
                        });
                    }
                }
                if e.consent.is_none() {
                    batch.without_consent += 1;
                }
                batch.rows.push(e);
                batch.lines.push(line);
                batch.grades.push(grade);
                if batch.rows.len() >= BATCH {
                    batch.bytes = record.position().map(|p| p.byte()).unwrap_or(0);
                    if !sink(std::mem::replace(&mut batch, fresh())) {
                        return Ok(());
                    }
                }
            }
        }
    }
    batch.bytes = record.position().map(|p| p.byte()).unwrap_or(0);
    sink(batch);
    Ok(())
}

async fn flush(
    app: &Care,
    parsed: &mut Parsed,
    report: &mut ImportReport,
    source: &str,
    actor: &str,
) -> Result<(), ImportError> {
    // A row whose ID card number is another woman's is refused alone.
    let conflicts = app.id_card_conflicts(&parsed.rows).await?;
    for (i, reason) in conflicts.into_iter().rev() {
        parsed.rows.remove(i);
        parsed.grades.remove(i);
        let line = parsed.lines.remove(i);
        report.refused.push(RefusedRow { line, reason });
    }
    let batch = &mut parsed.rows;
    if batch.is_empty() {
        return Ok(());
    }
    let outcomes = app.enroll_many(batch).await?;
    for (o, grade) in outcomes.iter().zip(parsed.grades.drain(..)) {
        match o {
            EnrollOutcome::Created { .. } => report.created += 1,
            EnrollOutcome::Unchanged { .. } => report.unchanged += 1,
            EnrollOutcome::DatesDiffer { .. } => report.corrected += 1,
        }
        if let Some((grade, on)) = grade {
            if record_grade(app, o.pregnancy_id(), grade, on, source, actor).await? {
                report.graded += 1;
            }
        }
    }
    batch.clear();
    Ok(())
}

/// A row's risk grade (its colour in Chinese or English, purple beside
/// it) and the day it was assessed (the `risk_date` column, else today):
/// none when the cell is empty; refused when the word is no grade or the
/// day is in the future or before her last period.
fn risk_of_row(
    risk: Option<String>,
    on: Option<String>,
    e: &crate::store::NewEnrollment,
    config: &crate::config::Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(Grade, NaiveDate)>, String> {
    let Some(risk) = risk.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    let grade = Grade::parse(&risk).map_err(|e| format!("risk: {e}"))?;
    let today = crate::domain::schedule::local_date(config.timezone, now);
    let on = match on.map(excel_serial_date).filter(|d| !d.trim().is_empty()) {
        None => today,
        Some(d) => crate::domain::dates::parse_date(&d)
            .ok_or_else(|| format!("risk_date: {d:?} is not a date"))?,
    };
    if on > today {
        return Err(format!("risk_date: {on} is in the future"));
    }
    if on < e.dates.lmp {
        return Err(format!(
            "risk_date: {on} is before this pregnancy began ({}, her last period)",
            e.dates.lmp
        ));
    }
    Ok(Some((grade, on)))
}

/// Records a roster row's grade as an assessment from the import, unless
/// it is already her current grade (so that importing the same roster
/// again records nothing). Answers whether it recorded one.
async fn record_grade(
    app: &Care,
    pregnancy_id: i64,
    grade: Grade,
    on: NaiveDate,
    source: &str,
    actor: &str,
) -> Result<bool, ImportError> {
    let store = |e: crate::store::StoreError| ImportError::App(e.into());
    let current = app.store.risk_state(pregnancy_id).await.map_err(store)?;
    if current.assessed_on.is_some() && current.grade == grade {
        return Ok(false);
    }
    let now = app.clock.now();
    let source = format!("import:{source}");
    app.store
        .record_assessment(
            pregnancy_id,
            &crate::store::NewAssessment {
                assessed_on: on,
                grade: grade.clone(),
                reasons: None,
                postpartum: false,
                source: source.clone(),
                recorded_by: actor.to_string(),
            },
            now,
        )
        .await
        .map_err(store)?;
    app.store
        .audit(
            now,
            actor,
            "risk_graded",
            &format!("pregnancy:{pregnancy_id}"),
            &format!(
                "{} on {on} via {source}",
                super::risk::describe_codes(&grade)
            ),
        )
        .await
        .map_err(store)?;
    Ok(true)
}

/// A roster's or a register's file opened as CSV rows, whatever it was
/// (see [`sniff`]): trimmed cells, rows of any length.
pub fn open_table<'a, R: Read + 'a>(
    reader: R,
) -> Result<csv::Reader<Box<dyn Read + 'a>>, ImportError> {
    let (reader, delimiter) = sniff(reader)?;
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(reader))
}

/// Each field's column in `headers`, by the names in `columns` (any case,
/// a byte-order mark ignored).
pub fn columns_of(
    headers: &csv::StringRecord,
    columns: &[(&'static str, &[&str])],
) -> HashMap<&'static str, usize> {
    columns
        .iter()
        .filter_map(|(field, names)| {
            headers
                .iter()
                .position(|h| {
                    names
                        .iter()
                        .any(|n| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(n))
                })
                .map(|i| (*field, i))
        })
        .collect()
}

/// The longest cell a roster row may hold: more is not a roster.
const MAX_FIELD_BYTES: usize = 500;

/// A row that cannot be a person's: a cell over `MAX_FIELD_BYTES`, or one
/// that runs over several lines (a stray `"` at the start of a cell quotes
/// everything up to the next `"`, swallowing the rows between: they are
/// named, so nobody is lost without a word).
pub(crate) fn runaway(record: &csv::StringRecord) -> Option<String> {
    let start = record.position().map(|p| p.line()).unwrap_or(0);
    for field in record.iter() {
        let breaks = field.matches('\n').count() as u64;
        if breaks > 0 {
            return Some(format!(
                "a cell runs over {} lines ({start} to {}): an opening quote (\") is not closed, \
                 or a name holds a line break; the rows on those lines are not imported",
                breaks + 1,
                start + breaks
            ));
        }
        if field.len() > MAX_FIELD_BYTES {
            return Some(format!(
                "a cell of {} characters: at most {MAX_FIELD_BYTES} bytes are read",
                field.chars().count()
            ));
        }
    }
    None
}

/// The first sheet of a workbook as CSV: text as it is, whole numbers
/// without a decimal point (phone numbers typed as numbers), dates stored
/// as Excel dates as 2026-09-22, formulas by their values.
///
/// (A date column Excel saved as a bare number, in a CSV or in a cell
/// without a date format, is read by [`excel_serial_date`].)
fn workbook_as_csv(bytes: Vec<u8>) -> Result<Vec<u8>, ImportError> {
    use calamine::{Data, Reader};
    let mut wb = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| ImportError::Workbook(e.to_string()))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or(ImportError::Empty)?
        .map_err(|e| ImportError::Workbook(e.to_string()))?;
    let text = |d: &Data| -> String {
        match d {
            Data::String(s) | Data::DurationIso(s) => s.clone(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            Data::Float(f) => f.to_string(),
            Data::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
            Data::DateTime(t) => t
                .as_datetime()
                .map(|t| t.date().format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            Data::DateTimeIso(s) => s.chars().take(10).collect(),
            Data::Error(_) | Data::Empty => String::new(),
        }
    };
    let mut w = csv::Writer::from_writer(vec![]);
    for row in range.rows() {
        w.write_record(row.iter().map(text))?;
    }
    w.into_inner()
        .map_err(|e| ImportError::Workbook(e.to_string()))
}

/// What a county office's file is: an Excel workbook (.xlsx, .xls), UTF-8
/// (with or without a byte-order mark), or GB18030/GBK as Excel on Chinese Windows saves it (detected:
/// the start of the file is not UTF-8); separated by commas, semicolons or
/// tabs (whichever the header line holds most of). Refuses an empty file.
fn sniff<'a, R: Read + 'a>(mut reader: R) -> Result<(Box<dyn Read + 'a>, u8), ImportError> {
    let mut head = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ImportError::Csv(csv::Error::from(e))),
        }
    }
    let full = n == head.len();
    head.truncate(n);
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ImportError::Empty);
    }
    // An Excel workbook (.xlsx is a zip, .xls an OLE file): its first sheet,
    // read as the rows of a CSV, under the same rules.
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if head.starts_with(ZIP) || head.starts_with(OLE) {
        let mut all = head;
        reader
            .read_to_end(&mut all)
            .map_err(|e| ImportError::Csv(csv::Error::from(e)))?;
        let csv = workbook_as_csv(all)?;
        return Ok((Box::new(std::io::Cursor::new(csv)), b','));
    }
    let utf8 = match std::str::from_utf8(&head) {
        Ok(_) => true,
        // Cut in the middle of a character at the end of what was read.
        Err(e) => e.error_len().is_none() && full,
    };
    let first_line: Vec<u8> = {
        let decoded = if utf8 {
            String::from_utf8_lossy(&head).into_owned()
        } else {
            encoding_rs::GB18030.decode(&head).0.into_owned()
        };
        decoded.lines().next().unwrap_or("").as_bytes().to_vec()
    };
    let count = |c: u8| first_line.iter().filter(|b| **b == c).count();
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|c| (count(*c), *c == b','))
        .unwrap_or(b',');
    let whole = std::io::Cursor::new(head).chain(reader);
    let reader: Box<dyn Read + 'a> = if utf8 {
        Box::new(whole)
    } else {
        Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::GB18030))
                .build(whole),
        )
    };
    Ok((reader, delimiter))
}

/// A date Excel wrote as its serial number (days since 1899-12-30, as
/// Excel counts them from 1900-03-01 on): "46287" is 2026-09-22. Only
/// whole numbers from 36526 (2000-01-01) to 73050 (2099-12-31) are taken
/// as dates; anything else is left as it was, to be read or refused as a
/// date.
pub(crate) fn excel_serial_date(cell: String) -> String {
    let serial = cell.trim().strip_suffix(".0").unwrap_or(cell.trim());
    match serial.parse::<i64>() {
        Ok(n) if (36_526..=73_050).contains(&n) => {
            let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).expect("a date");
            (epoch + chrono::Duration::days(n)).to_string()
        }
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::excel_serial_date;

    #[test]
    fn excel_serial_numbers_in_date_columns_are_read_as_dates() {
        assert_eq!(excel_serial_date("46287".into()), "2026-09-22");
        assert_eq!(excel_serial_date(" 46287.0 ".into()), "2026-09-22");
        assert_eq!(excel_serial_date("36526".into()), "2000-01-01");
        // Not a plausible serial, or already a date: left to the date reader.
        assert_eq!(excel_serial_date("20260922".into()), "20260922");
        assert_eq!(excel_serial_date("139".into()), "139");
        assert_eq!(excel_serial_date("2026-09-22".into()), "2026-09-22");
    }
}
