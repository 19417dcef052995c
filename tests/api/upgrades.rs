//! Upgrades: a database written by a newer careminder is refused before
//! it is touched, with a message that says what to do.

use careminder::store::{Store, StoreError};

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    Store::open(&db).await.unwrap();
    // A later careminder applied a migration this binary does not know.
    let conn = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
         VALUES (99990101000000, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)",
    )
    .execute(&conn)
    .await
    .unwrap();
    conn.close().await;
    let err = Store::open(&db).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Newer {
                found: 99990101000000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade careminder"), "{err}");
}

#[tokio::test]
async fn reopening_a_database_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let s = Store::open(&db).await.unwrap();
    s.set_state("probe", "kept").await.unwrap();
    drop(s);
    let s = Store::open(&db).await.unwrap();
    assert_eq!(s.get_state("probe").await.unwrap().as_deref(), Some("kept"));
    s.integrity_check().await.unwrap();
}
