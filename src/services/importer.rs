//! Roster import: a county's CSV (English or Chinese header) checked row by
//! row. Every refused row is reported with its line number and reason;
//! accepted rows are committed in batches; importing the same file again
//! changes nothing, and a row whose dates changed corrects them.

use super::care::Care;
use crate::services::enrollment::{validate, EnrollmentInput};
use crate::store::EnrollOutcome;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Read;

/// Column names in each header form, by field.
const COLUMNS: &[(&str, &[&str])] = &[
    ("name", &["name", "姓名"]),
    ("phone", &["phone", "手机号", "手机", "电话"]),
    ("lmp", &["lmp", "末次月经"]),
    ("edd", &["edd", "预产期"]),
    ("village", &["village", "村"]),
    ("officer", &["officer", "责任人"]),
    ("language", &["language", "语言"]),
    ("wechat_openid", &["wechat_openid", "微信openid", "openid"]),
    ("consent", &["consent", "知情同意"]),
    ("care_plan", &["care_plan", "管理方案"]),
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
    pub refused: Vec<RefusedRow>,
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
    #[error(transparent)]
    App(#[from] crate::services::AppError),
}

const BATCH: usize = 2000;

/// What the reading stage hands the writer: a batch of validated rows,
/// the refusals met while reading it, and how far into the file it got.
pub struct Parsed {
    pub rows: Vec<crate::store::NewEnrollment>,
    pub refused: Vec<RefusedRow>,
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
    let now = app.clock.now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Parsed, ImportError>>(1);
    let config = app.config.clone();
    let (source_owned, actor_owned) = (source.to_string(), actor.to_string());
    let reading = std::thread::spawn(move || {
        if let Err(e) = read_batches(
            reader,
            &config,
            &plans,
            now,
            &source_owned,
            &actor_owned,
            |batch| tx.blocking_send(Ok(batch)).is_ok(),
        ) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut report = ImportReport::default();
    let mut outcome = Ok(());
    while let Some(parsed) = rx.recv().await {
        let step = match parsed {
            Ok(mut p) => {
                report.refused.append(&mut p.refused);
                report.without_consent += p.without_consent;
                let r = flush(app, &mut p.rows, &mut report).await;
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
    report.refused.sort_by_key(|r| r.line);
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
    config: &crate::config::Config,
    plans: &HashMap<String, crate::domain::CarePlan>,
    now: chrono::DateTime<chrono::Utc>,
    source: &str,
    actor: &str,
    mut sink: impl FnMut(Parsed) -> bool,
) -> Result<(), ImportError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = rdr.headers()?.clone();
    let col: HashMap<&str, usize> = COLUMNS
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
        .collect();
    for required in ["name", "phone"] {
        if !col.contains_key(required) {
            return Err(ImportError::MissingColumn(required));
        }
    }
    let fresh = || Parsed {
        rows: Vec::with_capacity(BATCH),
        refused: vec![],
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
        let get = |f: &str| col.get(f).and_then(|i| record.get(*i)).map(str::to_string);
        let input = EnrollmentInput {
            name: get("name").unwrap_or_default(),
            phone: get("phone").unwrap_or_default(),
            lmp: get("lmp"),
            edd: get("edd"),
            village: get("village"),
            officer: get("officer"),
            language: get("language"),
            wechat_openid: get("wechat_openid"),
            consent: get("consent"),
            care_plan: get("care_plan"),
        };
        match validate(&input, config, plans, now, source, actor) {
            Err(e) => batch.refused.push(RefusedRow {
                line,
                reason: e.to_string(),
            }),
            Ok(e) => {
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
                if e.consent.is_none() {
                    batch.without_consent += 1;
                }
                batch.rows.push(e);
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
    batch: &mut Vec<crate::store::NewEnrollment>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcomes = app.enroll_many(batch).await?;
    for o in outcomes {
        match o {
            EnrollOutcome::Created { .. } => report.created += 1,
            EnrollOutcome::Unchanged { .. } => report.unchanged += 1,
            EnrollOutcome::DatesDiffer { .. } => report.corrected += 1,
        }
    }
    batch.clear();
    Ok(())
}
