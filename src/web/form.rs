//! The extractors every page and API handler reads a query string or a
//! posted form with.
//!
//! A browser submits every field of a form, the ones left empty included
//! (HTML's "constructing the entry list": an empty text or date input is
//! sent as `name=`). axum's own `Query`/`Form` (serde_urlencoded) read
//! `from=` into an `Option<NaiveDate>` as a date to parse and answer a bare
//! 400, so a filter with its dates left empty, and every next-page or CSV
//! link carrying them, failed. These (serde_html_form, made for HTML forms)
//! read an empty value into an `Option` as "not given". The unit test
//! below keeps axum's versions out of `web/`.

pub use axum_extra::extract::{Form, Query};

#[cfg(test)]
mod tests {
    use super::Query;
    use chrono::NaiveDate;
    use serde::Deserialize;

    fn query(q: &str) -> Result<Filter, String> {
        let uri: axum::http::Uri = format!("/console/messages?{q}").parse().unwrap();
        Query::<Filter>::try_from_uri(&uri)
            .map(|Query(f)| f)
            .map_err(|e| e.to_string())
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Filter {
        status: Option<String>,
        from: Option<NaiveDate>,
        page: Option<i64>,
        #[serde(default)]
        actor: String,
    }

    /// What Chromium sends for the message log's filter with only a status
    /// chosen: every field, the empty ones as `name=`.
    #[test]
    fn empty_fields_as_a_browser_sends_them_are_not_given() {
        let f = query("status=failed&from=&page=&actor=").unwrap();
        assert_eq!(
            f,
            Filter {
                status: Some("failed".into()),
                from: None,
                page: None,
                actor: String::new(),
            }
        );
        let f = query("from=2026-12-01&page=2").unwrap();
        assert_eq!(f.from, NaiveDate::from_ymd_opt(2026, 12, 1));
        assert_eq!(f.page, Some(2));
        // A value that is given and wrong is still refused.
        assert!(query("from=2026-13-01").is_err());
    }

    /// Every handler under `web/` reads forms and queries through this
    /// module: axum's own extractors would bring the 400 back.
    #[test]
    fn no_handler_reads_a_form_or_query_with_axums_own_extractors() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web");
        let mut files = vec![std::path::PathBuf::from(root)];
        let mut offenders = Vec::new();
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for (n, line) in text.lines().enumerate() {
                let l = line.trim_start();
                if !l.starts_with("use axum::") {
                    continue;
                }
                let words: Vec<&str> = l
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .collect();
                if words.contains(&"Form") || words.contains(&"Query") {
                    offenders.push(format!("{}:{}: {l}", p.display(), n + 1));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "use web::form instead: {offenders:#?}"
        );
    }
}
