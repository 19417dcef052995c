//! Where SQLite's SQL and PostgreSQL's differ, in one place.
//!
//! Most statements are written once for both (`on_db!`, `$1` parameters,
//! `FILTER`, `ON CONFLICT`, `RETURNING`). The fragments that are not —
//! finding a substring, date arithmetic, a bound JSON array read as a set,
//! a timestamp's day or week — come from here, each as an SQL expression
//! around the caller's own expressions. Every fragment is run on both
//! databases by this module's test, with the same inputs and the same
//! expected answer. Whole statements that differ by backend (the sending
//! path's claim, the enrolment batch) live beside each other instead:
//! `outbox/{sqlite,postgres}.rs`, `enroll.rs`.

/// The SQL dialect of a store's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Whether `needle` occurs in `hay` (both SQL text expressions).
    pub fn contains(self, hay: &str, needle: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({hay}, {needle}) > 0"),
            Dialect::Postgres => format!("strpos({hay}, {needle}) > 0"),
        }
    }

    /// Whether the text `x` holds digits only (true for '').
    pub fn all_digits(self, x: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{x} NOT GLOB '*[^0-9]*'"),
            Dialect::Postgres => format!("{x} !~ '[^0-9]'"),
        }
    }

    /// The last `n` characters of the text `x` (`n` an SQL expression).
    pub fn last_chars(self, x: &str, n: &str) -> String {
        match self {
            Dialect::Sqlite => format!("substr({x}, -({n}))"),
            Dialect::Postgres => format!("right({x}, {n})"),
        }
    }

    /// The UTC date of the Unix time `seconds`: `YYYY-MM-DD` text on
    /// SQLite, a DATE on PostgreSQL; both decode as `NaiveDate` (a DATE
    /// cast to text on PostgreSQL would not, which broke the dashboard's
    /// chart there).
    pub fn utc_day(self, seconds: &str) -> String {
        match self {
            Dialect::Sqlite => format!("date({seconds}, 'unixepoch')"),
            Dialect::Postgres => {
                format!("CAST(to_timestamp({seconds}) AT TIME ZONE 'UTC' AS DATE)")
            }
        }
    }

    /// The week of the Unix time `seconds` as `YYYY-Www`, weeks starting
    /// on Monday and the days before the year's first Monday in week 00
    /// (strftime's `%W`).
    pub fn utc_week(self, seconds: &str) -> String {
        match self {
            Dialect::Sqlite => format!("strftime('%Y-W%W', {seconds}, 'unixepoch')"),
            Dialect::Postgres => format!(
                "(SELECT to_char(l.t, 'YYYY') || '-W'
                         || to_char((CAST(extract(doy FROM l.t) AS INTEGER) + 7
                                     - CAST(extract(isodow FROM l.t) AS INTEGER)) / 7, 'FM00')
                  FROM (SELECT to_timestamp({seconds}) AT TIME ZONE 'UTC' AS t) l)"
            ),
        }
    }

    /// Whole days from the date `earlier` to the date `later`: SQLite
    /// counts Julian days, PostgreSQL subtracts dates.
    pub fn days_between(self, later: &str, earlier: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("CAST(julianday({later}) - julianday({earlier}) AS INTEGER)")
            }
            Dialect::Postgres => format!("({later} - {earlier})"),
        }
    }

    /// The date `days` after the date `d`.
    pub fn date_plus_days(self, d: &str, days: i64) -> String {
        match self {
            Dialect::Sqlite => format!("date({d}, '{days:+} days')"),
            Dialect::Postgres => format!("({d} + {days})"),
        }
    }

    /// How one bound JSON array (the same JSON text on both backends) is
    /// read as a set of values of SQL type `ty` (`TEXT`, `BIGINT`):
    /// SQLite's `json_each`, PostgreSQL's `jsonb_array_elements_text`. The
    /// parameter goes between the two halves (a query builder's bind).
    pub fn json_set(self, ty: &str) -> (String, &'static str) {
        match self {
            Dialect::Sqlite => ("SELECT value FROM json_each(".to_string(), ")"),
            Dialect::Postgres => (
                format!("SELECT CAST(j.value AS {ty}) FROM jsonb_array_elements_text(CAST("),
                " AS jsonb)) AS j (value)",
            ),
        }
    }

    /// [`Dialect::json_set`] around the parameter `param` (`$3`), as a
    /// subquery.
    pub fn json_set_of(self, param: &str, ty: &str) -> String {
        let (open, close) = self.json_set(ty);
        format!("({open}{param}{close})")
    }

    /// A read-only transaction whose statements all see one snapshot:
    /// SQLite's reader transaction is one already.
    pub fn begin_snapshot(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN",
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    /// Each fragment with the same inputs, and the answer both databases
    /// must give (as text).
    fn cases(d: Dialect) -> Vec<(String, &'static str)> {
        let date = |s: &str| match d {
            Dialect::Sqlite => format!("'{s}'"),
            Dialect::Postgres => format!("DATE '{s}'"),
        };
        vec![
            (d.contains("'王秀英'", "'秀'"), "1"),
            (d.contains("'王秀英'", "'李'"), "0"),
            (d.all_digits("'13800000001'"), "1"),
            (d.all_digits("'138-0000'"), "0"),
            (d.last_chars("'13800001234'", "4"), "1234"),
            (d.last_chars("'13800001234'", "length('34')"), "34"),
            // 2026-12-31 23:59:59 UTC, and a second later.
            (d.utc_day("1798761599"), "2026-12-31"),
            (d.utc_day("1798761600"), "2027-01-01"),
            // 2027-01-01 is a Friday: week 00 until Monday 2027-01-04.
            (d.utc_week("1798761600"), "2027-W00"),
            (d.utc_week("1799020800"), "2027-W01"),
            (d.utc_week("1798675200"), "2026-W52"),
            (
                d.days_between(&date("2027-03-01"), &date("2027-02-01")),
                "28",
            ),
            (
                d.days_between(&date("2028-03-01"), &date("2028-02-01")),
                "29",
            ),
            (
                format!(
                    "CAST({} AS TEXT)",
                    d.date_plus_days(&date("2026-12-20"), 14)
                ),
                "2027-01-03",
            ),
            (
                format!(
                    "CAST({} AS TEXT)",
                    d.date_plus_days(&date("2027-03-01"), -1)
                ),
                "2027-02-28",
            ),
            (
                format!(
                    "(SELECT COUNT(*) FROM {} s)",
                    d.json_set_of("'[\"a\",\"b\",\"c\"]'", "TEXT")
                ),
                "3",
            ),
            (
                format!("(7 IN {})", d.json_set_of("'[5,7,9]'", "BIGINT")),
                "1",
            ),
        ]
    }

    /// Booleans as 0/1, numbers and dates as text: both backends' answers
    /// in one form.
    fn as_text(d: Dialect, expr: &str) -> String {
        match d {
            Dialect::Sqlite => format!("SELECT CAST(({expr}) AS TEXT)"),
            Dialect::Postgres => format!(
                "SELECT CASE pg_typeof(x)::text WHEN 'boolean' THEN (CASE WHEN x::text = 'true' THEN '1' ELSE '0' END)
                        ELSE x::text END FROM (SELECT ({expr}) AS x) q"
            ),
        }
    }

    #[tokio::test]
    async fn every_fragment_gives_the_same_answer_on_both_databases() {
        let sqlite = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        for (expr, want) in cases(Dialect::Sqlite) {
            let got: String = sqlx::query_scalar(&as_text(Dialect::Sqlite, &expr))
                .fetch_one(&sqlite)
                .await
                .unwrap_or_else(|e| panic!("SQLite: {expr}: {e}"));
            assert_eq!(got, want, "SQLite: {expr}");
        }
        // scripts/test.sh always names a PostgreSQL database; a run of
        // `cargo test` by hand without one checks SQLite only.
        let Ok(url) = std::env::var("CAREMINDER_TEST_PG") else {
            return;
        };
        let pg = sqlx::PgPool::connect(&url).await.unwrap();
        for (expr, want) in cases(Dialect::Postgres) {
            let got: String = sqlx::query_scalar(&as_text(Dialect::Postgres, &expr))
                .fetch_one(&pg)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL: {expr}: {e}"));
            assert_eq!(got, want, "PostgreSQL: {expr}");
        }
    }
}
