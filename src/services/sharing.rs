//! Sharing out (信息共享): the county's births, registrations and moves of
//! a period, as files the other offices read (xlsx with Chinese headings,
//! CSV in UTF-8 with one byte-order mark), written into
//! `sharing.export_dir` on its cron (a job of `Jobs`) and given through the
//! API. Only what `sharing.export` names leaves; never a message text; a
//! risk colour only with `sharing.include_risk_grade`. Every export is
//! audited with who asked and what left.

use super::AppError;
use crate::config::Config;
use crate::store::Store;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// One file of an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportFile {
    pub name: String,
    /// births, registrations or moves.
    pub kind: String,
    pub rows: usize,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// The tables of a period: (kind, Chinese headings, rows).
type Table = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// What leaves for `[from, to)`, as configured.
async fn tables(
    store: &Store,
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Table>, AppError> {
    let risk = config.sharing.include_risk_grade;
    let mut out = vec![];
    for kind in &config.sharing.export {
        match kind.as_str() {
            "births" => {
                let mut head = vec![
                    "编号",
                    "姓名",
                    "村",
                    "分娩日期",
                    "分娩地点",
                    "活产数",
                    "出院日期",
                ];
                if risk {
                    head.push("妊娠风险等级");
                }
                let rows = store
                    .shared_births(from, to)
                    .await?
                    .into_iter()
                    .map(|b| {
                        let mut r = vec![
                            b.woman_id.to_string(),
                            b.name,
                            opt(&b.village),
                            b.delivered_on.to_string(),
                            opt(&b.birth_place),
                            b.live_born.map(|n| n.to_string()).unwrap_or_default(),
                            b.discharged_on.map(|d| d.to_string()).unwrap_or_default(),
                        ];
                        if risk {
                            r.push(opt(&b.risk_colour));
                        }
                        r
                    })
                    .collect();
                out.push(("births", head, rows));
            }
            "registrations" => {
                let head = vec!["编号", "姓名", "村", "登记日期", "末次月经", "预产期"];
                let rows = store
                    .shared_registrations(from, to)
                    .await?
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.woman_id.to_string(),
                            r.name,
                            opt(&r.village),
                            r.registered_on.to_string(),
                            r.lmp.to_string(),
                            r.edd.to_string(),
                        ]
                    })
                    .collect();
                out.push(("registrations", head, rows));
            }
            "moves" => {
                let head = vec![
                    "编号",
                    "姓名",
                    "迁移日期",
                    "迁移类型",
                    "原村",
                    "原负责人",
                    "迁入村",
                    "新负责人",
                    "迁往",
                ];
                let rows = store
                    .shared_moves(from, to)
                    .await?
                    .into_iter()
                    .map(|(name, m)| {
                        vec![
                            m.woman_id.to_string(),
                            name,
                            m.moved_on.to_string(),
                            if m.within_county {
                                "县内"
                            } else {
                                "迁出本县"
                            }
                            .to_string(),
                            opt(&m.from_village),
                            opt(&m.from_officer),
                            opt(&m.to_village),
                            opt(&m.to_officer),
                            opt(&m.destination),
                        ]
                    })
                    .collect();
                out.push(("moves", head, rows));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A table as CSV: UTF-8 with exactly one byte-order mark (Excel reads
/// Chinese then), CRLF line ends.
pub fn to_csv(head: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(vec![]);
    let _ = w.write_record(head);
    for r in rows {
        let _ = w.write_record(r);
    }
    let body = w.into_inner().unwrap_or_default();
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend_from_slice(
        body.strip_prefix("\u{feff}".as_bytes())
            .unwrap_or(&body[..]),
    );
    out
}

/// A table as an Excel workbook, headings in Chinese.
pub fn to_xlsx(title: &str, head: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| AppError::Config(format!("xlsx: {e}"));
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(title).map_err(fail)?;
    let bold = Format::new().set_bold();
    for (c, h) in head.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(fail)?;
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, v) in r.iter().enumerate() {
            sheet
                .write_string(1 + i as u32, c as u16, v)
                .map_err(fail)?;
        }
    }
    book.save_to_buffer().map_err(fail)
}

fn sheet_title(kind: &str) -> &'static str {
    match kind {
        "births" => "分娩",
        "registrations" => "孕产妇登记",
        _ => "迁移",
    }
}

/// The files of `[from, to)`: for each kind configured, a CSV and an xlsx
/// named `<kind>_<from>_<to>.<ext>` (`to` the period's last day). Audited
/// with `actor` and what left.
pub async fn export(
    store: &Store,
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
    only: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ExportFile>, AppError> {
    if let Some(k) = only {
        if !config.sharing.export.iter().any(|e| e == k) {
            return Err(AppError::Refused(format!(
                "kind: {k:?} is not shared here (sharing.export: {})",
                config.sharing.export.join(", ")
            )));
        }
    }
    if to <= from {
        return Err(AppError::Refused(format!(
            "the period is empty: {from} to {to}"
        )));
    }
    let last = to.pred_opt().unwrap_or(to);
    let mut files = vec![];
    for (kind, head, rows) in tables(store, config, from, to).await? {
        if only.is_some_and(|k| k != kind) {
            continue;
        }
        let stem = format!("{kind}_{from}_{last}");
        files.push(ExportFile {
            name: format!("{stem}.csv"),
            kind: kind.into(),
            rows: rows.len(),
            bytes: to_csv(&head, &rows),
        });
        files.push(ExportFile {
            name: format!("{stem}.xlsx"),
            kind: kind.into(),
            rows: rows.len(),
            bytes: to_xlsx(sheet_title(kind), &head, &rows)?,
        });
    }
    let what: Vec<String> = files
        .iter()
        .filter(|f| f.name.ends_with(".csv"))
        .map(|f| format!("{} {} rows", f.kind, f.rows))
        .collect();
    store
        .audit(
            now,
            actor,
            "share_export",
            &format!("period:{from}..{last}"),
            &format!(
                "{}{}",
                what.join(", "),
                if config.sharing.include_risk_grade {
                    "; with risk grades"
                } else {
                    ""
                }
            ),
        )
        .await?;
    Ok(files)
}

/// Writes an export's files into `sharing.export_dir` (created if
/// missing; each file written beside and renamed, so a reader never sees
/// half of one).
pub fn write_files(config: &Config, files: &[ExportFile]) -> Result<(), AppError> {
    let dir = std::path::Path::new(&config.sharing.export_dir);
    let fail = |e: std::io::Error| {
        AppError::Config(format!(
            "sharing.export_dir {}: {e}",
            config.sharing.export_dir
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    for f in files {
        let tmp = dir.join(format!(".{}.part", f.name));
        std::fs::write(&tmp, &f.bytes).map_err(fail)?;
        std::fs::rename(&tmp, dir.join(&f.name)).map_err(fail)?;
    }
    Ok(())
}
