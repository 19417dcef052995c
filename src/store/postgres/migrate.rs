//! Moving up: a county's SQLite database copied into an empty PostgreSQL
//! database of the same schema, every row with its own id (the outbox ids a
//! gateway already knows stay valid), then checked: each table's count on
//! both sides, and a sample of rows compared column by column.
//!
//! The copy is generic: the tables, their columns and their references are
//! read from both databases, so a migration that adds a column to both twins
//! needs nothing here. Each column is read from SQLite as the text
//! PostgreSQL would print for it (`true`/`false` for flags, `\x…` for bytes)
//! and streamed with `COPY … FROM STDIN` in one transaction: a failure
//! leaves the target as empty as it was.

use super::super::{Result, Store, StoreError};
use futures::TryStreamExt;
use sqlx::postgres::{PgConnection, PgCopyIn, PgPool};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Row};

/// Rows compared column by column in each table, spread over its keys.
const SAMPLE_PER_TABLE: i64 = 200;

/// Bytes buffered before they are sent to the server.
const COPY_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Date,
    Text,
    Bytes,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
    /// PostgreSQL's name for its type, for casts.
    pg_type: String,
    /// Position in the primary key (1-based); 0 when not part of it.
    pk: i64,
}

#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// Tables this one references (itself excluded).
    refs: Vec<String>,
    /// Its `id` is an identity column whose sequence must follow the copy.
    identity: bool,
}

impl Table {
    fn key(&self) -> Vec<&Column> {
        let mut key: Vec<&Column> = self.columns.iter().filter(|c| c.pk > 0).collect();
        key.sort_by_key(|c| c.pk);
        key
    }

    fn order_by(&self) -> String {
        self.key()
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every column as PostgreSQL's text for it, read from SQLite.
    fn sqlite_text_columns(&self) -> String {
        self.columns
            .iter()
            .map(|c| {
                let q = quote(&c.name);
                match c.kind {
                    Kind::Int | Kind::Date | Kind::Text => format!("CAST({q} AS TEXT)"),
                    Kind::Bool => format!(
                        "CASE WHEN {q} IS NULL THEN NULL WHEN {q} <> 0 THEN 'true' ELSE 'false' END"
                    ),
                    Kind::Bytes => {
                        format!("CASE WHEN {q} IS NULL THEN NULL ELSE '\\x' || lower(hex({q})) END")
                    }
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// One table's rows on each side.
#[derive(Debug, Clone)]
pub struct TableMoved {
    pub table: String,
    pub rows: i64,
}

/// What `migrate-to` copied and checked.
#[derive(Debug, Clone)]
pub struct Moved {
    pub schema: i64,
    pub tables: Vec<TableMoved>,
    /// Rows compared column by column, over all tables.
    pub sampled: usize,
}

impl Moved {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Copies `source` into the empty PostgreSQL database `target` (migrating
/// its schema first), then checks the copy. `on_table` hears of each table
/// as it is copied.
pub async fn migrate_to(
    source: &Store,
    target: &str,
    mut on_table: impl FnMut(&str, u64),
) -> Result<Moved> {
    let pool = super::open(target, 2).await?;
    let from = source.applied_schema_version().await?.unwrap_or(0);
    let to = super::applied_schema_version(&pool).await?.unwrap_or(0);
    if from != to {
        return Err(StoreError::Conflict(format!(
            "the SQLite database is at schema {from} and PostgreSQL at {to}: \
             both must be at the same version to move"
        )));
    }
    // Whole tables are read in one statement each: not "slow statements".
    let options = (*source.read()?.connect_options())
        .clone()
        .disable_statement_logging();
    let bulk = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let tables = tables(source, &pool).await?;
    for t in &tables {
        let has_rows: bool =
            sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {})", quote(&t.name)))
                .fetch_one(&pool)
                .await?;
        if has_rows {
            return Err(StoreError::Conflict(format!(
                "the PostgreSQL database already holds data (table {} has rows): \
                 migrate-to fills an empty database",
                t.name
            )));
        }
    }

    let mut tx = pool.begin().await?;
    // The copied status history is already in outbox_events: the triggers
    // that write it must not write it twice.
    for t in &tables {
        sqlx::query(&format!(
            "ALTER TABLE {} DISABLE TRIGGER USER",
            quote(&t.name)
        ))
        .execute(&mut *tx)
        .await?;
    }
    for t in &tables {
        let n = copy_table(&bulk, &mut tx, t).await?;
        on_table(&t.name, n);
    }
    for t in &tables {
        sqlx::query(&format!(
            "ALTER TABLE {} ENABLE TRIGGER USER",
            quote(&t.name)
        ))
        .execute(&mut *tx)
        .await?;
        if t.identity {
            // The next id PostgreSQL hands out follows the last one copied.
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}",
                t.name
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    // Statistics for the planner now: until autovacuum gets to the new
    // tables, PostgreSQL plans their queries blind (the claim of a day's
    // reminders at a million pregnancies took 2 s a batch instead of
    // milliseconds).
    super::analyze(&pool).await?;

    let mut moved = Moved {
        schema: from,
        tables: Vec::new(),
        sampled: 0,
    };
    for t in &tables {
        let sql = format!("SELECT COUNT(*) FROM {}", quote(&t.name));
        let here: i64 = sqlx::query_scalar(&sql).fetch_one(source.read()?).await?;
        let there: i64 = sqlx::query_scalar(&sql).fetch_one(&pool).await?;
        if here != there {
            return Err(StoreError::Corrupt(format!(
                "{}: {here} rows in SQLite but {there} in PostgreSQL (was the service still writing?)",
                t.name
            )));
        }
        moved.sampled += compare_sample(&bulk, &pool, t, here).await?;
        moved.tables.push(TableMoved {
            table: t.name.clone(),
            rows: here,
        });
    }
    pool.close().await;
    bulk.close().await;
    Ok(moved)
}

/// The tables both databases have, parents before the tables that
/// reference them; a table or column on one side only is refused.
async fn tables(source: &Store, pool: &PgPool) -> Result<Vec<Table>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(source.read()?)
    .await?;
    let mut found = Vec::new();
    for name in names {
        let pg: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_identity::text \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        if pg.is_empty() {
            return Err(StoreError::Conflict(format!(
                "table {name} has no PostgreSQL twin: this careminder cannot move it"
            )));
        }
        let info = sqlx::query(&format!("PRAGMA table_info({})", quote(&name)))
            .fetch_all(source.read()?)
            .await?;
        let mut columns = Vec::new();
        let mut identity = false;
        for row in info {
            let col: String = row.try_get("name")?;
            let pk: i64 = row.try_get("pk")?;
            let Some((_, pg_type, is_identity)) = pg.iter().find(|(c, _, _)| *c == col) else {
                return Err(StoreError::Conflict(format!(
                    "column {name}.{col} has no PostgreSQL twin"
                )));
            };
            let kind = match pg_type.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Int,
                "boolean" => Kind::Bool,
                "date" => Kind::Date,
                "text" => Kind::Text,
                "bytea" => Kind::Bytes,
                other => {
                    return Err(StoreError::Unsupported(format!(
                        "column {name}.{col} is {other} in PostgreSQL: migrate-to cannot fill it"
                    )))
                }
            };
            identity |= col == "id" && is_identity == "YES";
            columns.push(Column {
                name: col,
                kind,
                pg_type: pg_type.clone(),
                pk,
            });
        }
        if let Some((extra, _, _)) = pg
            .iter()
            .find(|(c, _, _)| !columns.iter().any(|k| k.name == *c))
        {
            return Err(StoreError::Conflict(format!(
                "column {name}.{extra} is in PostgreSQL only"
            )));
        }
        if !columns.iter().any(|c| c.pk > 0) {
            return Err(StoreError::Unsupported(format!(
                "table {name} has no primary key"
            )));
        }
        let refs: Vec<String> = sqlx::query(&format!("PRAGMA foreign_key_list({})", quote(&name)))
            .fetch_all(source.read()?)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("table"))
            .collect::<std::result::Result<_, _>>()?;
        found.push(Table {
            refs: refs.into_iter().filter(|r| *r != name).collect(),
            name,
            columns,
            identity,
        });
    }
    parents_first(found)
}

fn parents_first(mut pending: Vec<Table>) -> Result<Vec<Table>> {
    let mut ordered: Vec<Table> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|t| t.refs.iter().all(|r| ordered.iter().any(|o| o.name == *r)));
        match ready {
            Some(i) => ordered.push(pending.remove(i)),
            None => {
                return Err(StoreError::Unsupported(format!(
                    "tables reference each other in a cycle: {}",
                    pending
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    Ok(ordered)
}

/// Streams one table into PostgreSQL with `COPY`; the rows copied.
async fn copy_table(
    source: &SqlitePool,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    t: &Table,
) -> Result<u64> {
    let statement = format!("COPY {} ({}) FROM STDIN", quote(&t.name), t.column_list());
    let conn: &mut PgConnection = tx;
    let mut copy = conn.copy_in_raw(&statement).await?;
    let query = format!(
        "SELECT {} FROM {} ORDER BY {}",
        t.sqlite_text_columns(),
        quote(&t.name),
        t.order_by()
    );
    match fill(&mut copy, source, &query, t.columns.len()).await {
        Ok(sent) => {
            let copied = copy.finish().await.map_err(|e| {
                StoreError::Conflict(format!("copying {} into PostgreSQL: {e}", t.name))
            })?;
            if copied != sent {
                return Err(StoreError::Corrupt(format!(
                    "{}: {sent} rows sent but {copied} copied",
                    t.name
                )));
            }
            Ok(copied)
        }
        Err(e) => {
            let _ = copy
                .abort(format!("reading {} from SQLite failed", t.name))
                .await;
            Err(e)
        }
    }
}

async fn fill(
    copy: &mut PgCopyIn<&mut PgConnection>,
    source: &SqlitePool,
    query: &str,
    width: usize,
) -> Result<u64> {
    let mut rows = sqlx::query(query).fetch(source);
    let mut buf: Vec<u8> = Vec::with_capacity(COPY_CHUNK + 4096);
    let mut sent = 0u64;
    while let Some(row) = rows.try_next().await? {
        for i in 0..width {
            if i > 0 {
                buf.push(b'\t');
            }
            match row.try_get::<Option<&str>, _>(i)? {
                None => buf.extend_from_slice(b"\\N"),
                Some(v) => escape_copy_text(&mut buf, v),
            }
        }
        buf.push(b'\n');
        sent += 1;
        if buf.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buf)).await?;
            buf.reserve(COPY_CHUNK + 4096);
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await?;
    }
    Ok(sent)
}

/// A value in `COPY`'s text format: backslash, tab and line ends escaped.
fn escape_copy_text(buf: &mut Vec<u8>, v: &str) {
    for &b in v.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

/// Compares rows spread over the table's keys, column by column, as
/// PostgreSQL prints them; the number compared. A difference names the
/// table, the row's key and the column, never the value (it may be a name
/// or a phone number).
async fn compare_sample(
    source: &SqlitePool,
    pool: &PgPool,
    t: &Table,
    count: i64,
) -> Result<usize> {
    if count == 0 {
        return Ok(0);
    }
    let stride = (count / SAMPLE_PER_TABLE).max(1);
    let sample = format!(
        "SELECT {} FROM (SELECT *, ROW_NUMBER() OVER (ORDER BY {}) AS row_number__ FROM {}) \
         WHERE (row_number__ - 1) % {stride} = 0 LIMIT {SAMPLE_PER_TABLE}",
        t.sqlite_text_columns(),
        t.order_by(),
        quote(&t.name)
    );
    let rows = sqlx::query(&sample).fetch_all(source).await?;
    let key = t.key();
    let filter = key
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = CAST(${} AS {})", quote(&c.name), i + 1, c.pg_type))
        .collect::<Vec<_>>()
        .join(" AND ");
    let lookup = format!(
        "SELECT {} FROM {} WHERE {filter}",
        t.columns
            .iter()
            .map(|c| format!("{}::text", quote(&c.name)))
            .collect::<Vec<_>>()
            .join(", "),
        quote(&t.name)
    );
    for row in &rows {
        let here: Vec<Option<String>> = (0..t.columns.len())
            .map(|i| row.try_get(i))
            .collect::<std::result::Result<_, _>>()?;
        let position = |name: &str| t.columns.iter().position(|c| c.name == name);
        let key_values: Vec<Option<String>> = key
            .iter()
            .map(|c| position(&c.name).and_then(|i| here[i].clone()))
            .collect();
        let key_text = key
            .iter()
            .zip(&key_values)
            .map(|(c, v)| format!("{}={}", c.name, v.as_deref().unwrap_or("NULL")))
            .collect::<Vec<_>>()
            .join(",");
        let mut q = sqlx::query(&lookup);
        for v in &key_values {
            q = q.bind(v.clone());
        }
        let Some(there) = q.fetch_optional(pool).await? else {
            return Err(StoreError::Corrupt(format!(
                "{} row {key_text} is missing in PostgreSQL",
                t.name
            )));
        };
        for (i, c) in t.columns.iter().enumerate() {
            let v: Option<String> = there.try_get(i)?;
            if v != here[i] {
                return Err(StoreError::Corrupt(format!(
                    "{} row {key_text}: column {} differs between SQLite and PostgreSQL",
                    t.name, c.name
                )));
            }
        }
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_split_a_row() {
        let mut buf = Vec::new();
        escape_copy_text(&mut buf, "a\tb\nc\\d\re 王");
        assert_eq!(String::from_utf8(buf).unwrap(), "a\\tb\\nc\\\\d\\re 王");
    }

    fn table(name: &str, refs: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
            refs: refs.iter().map(|s| s.to_string()).collect(),
            identity: false,
        }
    }

    #[test]
    fn parents_are_copied_before_the_rows_that_reference_them() {
        let ordered = parents_first(vec![
            table("visits", &["pregnancies"]),
            table("pregnancies", &["women", "care_plans"]),
            table("women", &[]),
            table("care_plans", &[]),
        ])
        .unwrap();
        let names: Vec<_> = ordered.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["women", "care_plans", "pregnancies", "visits"]);
        assert!(parents_first(vec![table("a", &["b"]), table("b", &["a"])]).is_err());
    }
}
