//! The outbox's sending path on SQLite: one writer process-wide, so
//! claims need no row locks; batches travel as JSON (`json_each`) or as
//! multi-row VALUES of a few hundred rows. The PostgreSQL twins are in
//! `postgres.rs`; the types both use are in `mod.rs`.

use super::{rank, waves, ClaimRow, NewOutboxRow, SendResult};
use crate::domain::StatusReport;
use crate::store::{full_chunk, rows_per_statement, ts, BeginWrite, Result, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

/// SQLite: a few hundred rows per statement, in one transaction.
pub(super) async fn insert_planned(
    write: &SqlitePool,
    rows: &[NewOutboxRow],
    now_s: i64,
) -> Result<u64> {
    let mut inserted = 0;
    let mut tx = write.begin_write().await?;
    for chunk in rows.chunks(rows_per_statement(10)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO outbox (dedupe_key, woman_id, pregnancy_id, visit_id, step_id, send_at, expires_at,
                                 outreach, created_at, updated_at, status, status_cause) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(&r.dedupe_key)
                .push_bind(r.woman_id)
                .push_bind(r.pregnancy_id)
                .push_bind(r.visit_id)
                .push_bind(r.step_id)
                .push_bind(ts(r.send_at))
                .push_bind(ts(r.expires_at))
                .push_bind(r.outreach)
                .push_bind(now_s)
                .push_bind(now_s)
                .push_unseparated(", 'scheduled', 'planned'");
        });
        qb.push(" ON CONFLICT (dedupe_key) DO NOTHING");
        inserted += qb
            .build()
            .persistent(full_chunk(chunk.len()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

/// SQLite: one writer, so the claim needs no row locks.
pub(super) async fn claim_due(
    write: &SqlitePool,
    now_s: i64,
    lease_until: i64,
    limit: i64,
    window_open: bool,
) -> Result<(Vec<ClaimRow>, u64)> {
    let mut tx = write.begin_write().await?;
    sqlx::query(
        "UPDATE outbox SET status = 'scheduled', status_cause = 'lease expired: taken back', lease_until = NULL, updated_at = ?1
         WHERE status = 'claimed' AND lease_until <= ?1",
    )
    .bind(now_s)
    .execute(&mut *tx)
    .await?;
    let expired = sqlx::query(
        "UPDATE outbox SET status = 'expired', status_cause = 'past its grace: not sent late', updated_at = ?1
         WHERE status = 'scheduled' AND expires_at <= ?1",
    )
    .bind(now_s)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Everything the batch needs comes back as one JSON row (one
    // hand-over from the database thread, not one per message), then
    // one statement marks the batch claimed.
    let batch: Option<String> = sqlx::query_scalar(
        "WITH due AS (
             -- Reminders, replies and alerts first; outreach fills what room is left.
             SELECT id, lane, send_at FROM (
                 SELECT * FROM (SELECT id, 0 AS lane, send_at FROM outbox
                                WHERE status = 'scheduled' AND outreach = 0 AND send_at <= ?1
                                  AND (?3 OR kind = 'reply') ORDER BY send_at, id LIMIT ?2)
                 UNION ALL
                 SELECT * FROM (SELECT id, 1 AS lane, send_at FROM outbox
                                WHERE status = 'scheduled' AND outreach = 1 AND send_at <= ?1 AND ?3
                                ORDER BY send_at, id LIMIT ?2))
             ORDER BY lane, send_at, id LIMIT ?2)
         SELECT json_group_array(json_object(
                'id', o.id, 'attempts', o.attempts, 'step_id', o.step_id, 'expires_at', o.expires_at,
                'first_tried_at', o.first_tried_at, 'kind', o.kind, 'outreach', o.outreach,
                'broadcast_id', o.broadcast_id,
                -- A step's text is rendered afresh on every try; body then holds what was last sent.
                'preset_body', CASE WHEN o.step_id IS NULL THEN o.body END,
                'woman_id', w.id, 'to_staff', o.staff_id IS NOT NULL,
                'name', COALESCE(w.name, st.name, ''),
                'phone', CASE WHEN o.woman_id IS NOT NULL THEN w.phone
                              WHEN o.staff_id IS NOT NULL THEN st.phone ELSE o.to_addr END,
                'language', COALESCE(w.language, st.language, ?4),
                'village', COALESCE(w.village, st.village),
                'can_receive', CASE WHEN o.kind = 'reminder' THEN (w.consent_at IS NOT NULL AND w.opted_out_at IS NULL
                                                                           AND w.erased_at IS NULL)
                                    ELSE w.erased_at IS NULL END,
                -- A stopped broadcast sends nothing more, even what was claimed.
                'stopped', (o.broadcast_id IS NOT NULL
                            AND (SELECT b.status FROM broadcasts b WHERE b.id = o.broadcast_id) <> 'published'),
                -- A home visit names every home visit of that day (hers and the baby's).
                'label_zh', CASE WHEN v.home = 1 THEN (
                                SELECT group_concat(l, '和') FROM (
                                    SELECT x.label_zh AS l FROM visits x
                                     WHERE x.pregnancy_id = v.pregnancy_id AND x.due_on = v.due_on
                                       AND x.home = 1 AND x.task = 0 AND x.status <> 'cancelled'
                                     ORDER BY x.newborn, x.seq))
                             ELSE v.label_zh END,
                'label_en', CASE WHEN v.home = 1 THEN (
                                SELECT group_concat(l, ' and ') FROM (
                                    SELECT x.label_en AS l FROM visits x
                                     WHERE x.pregnancy_id = v.pregnancy_id AND x.due_on = v.due_on
                                       AND x.home = 1 AND x.task = 0 AND x.status <> 'cancelled'
                                     ORDER BY x.newborn, x.seq))
                             ELSE v.label_en END,
                'home_visit', COALESCE(v.home, 0) = 1,
                'due_on', v.due_on,
                'window_end', v.window_end, 'lmp', p.lmp, 'fallback_of', o.fallback_of,
                'risk_colour', p.risk_colour, 'risk_purple', COALESCE(p.risk_purple, 0),
                'wechat_to', CASE WHEN o.fallback_of IS NULL AND o.woman_id IS NOT NULL AND w.erased_at IS NULL
                                       AND w.wechat_unfollowed_at IS NULL THEN w.wechat_openid END,
                'wecom_to', CASE WHEN o.fallback_of IS NULL THEN st.wecom_userid END,
                'reply_gateway', i.gateway, 'reply_sender', i.sender)
                ORDER BY due.lane, due.send_at, due.id)
         FROM due JOIN outbox o ON o.id = due.id
         LEFT JOIN women w ON w.id = o.woman_id
         LEFT JOIN staff st ON st.id = o.staff_id
         LEFT JOIN visits v ON v.id = o.visit_id
         LEFT JOIN pregnancies p ON p.id = o.pregnancy_id
         LEFT JOIN inbound i ON i.id = o.in_reply_to AND o.fallback_of IS NULL",
    )
    .bind(now_s)
    .bind(limit)
    .bind(window_open)
    .bind(crate::render::FALLBACK_LANGUAGE)
    .fetch_one(&mut *tx)
    .await?;
    let rows: Vec<ClaimRow> = serde_json::from_str(batch.as_deref().unwrap_or("[]"))
        .map_err(|e| StoreError::Corrupt(format!("claimed batch: {e}")))?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok((vec![], expired));
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    sqlx::query(
        "UPDATE outbox SET status = 'claimed', status_cause = NULL, lease_until = ?2,
                attempts = attempts + 1, first_tried_at = COALESCE(first_tried_at, ?1), updated_at = ?1
         FROM json_each(?3) j WHERE outbox.id = j.value",
    )
    .bind(now_s)
    .bind(lease_until)
    .bind(serde_json::to_string(&ids).expect("json"))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((rows, expired))
}

pub(super) async fn renew_leases(
    write: &SqlitePool,
    held: &[(i64, i64)],
    until: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET lease_until = ?1 FROM json_each(?2) j
         WHERE outbox.status = 'claimed' AND outbox.id = j.value->>0
           AND outbox.attempts = j.value->>1",
    )
    .bind(until)
    .bind(serde_json::to_string(held).expect("json"))
    .execute(write)
    .await?
    .rows_affected())
}

pub(super) async fn record_results(
    mut tx: sqlx::Transaction<'static, Sqlite>,
    results: &[SendResult],
    now: i64,
) -> Result<()> {
    for chunk in results.chunks(rows_per_statement(12)) {
        // A receipt may have come first (the phone reported delivery
        // before this batch was written): the status it set stands, and
        // what the hand-over knows (text, parts, number, gateway, its
        // id) is still written. The lease it left marks such a row.
        let mut qb = QueryBuilder::<Sqlite>::new(
            "UPDATE outbox SET
                    status = CASE WHEN outbox.status = 'claimed' THEN r.column2 ELSE outbox.status END,
                    status_cause = CASE WHEN outbox.status = 'claimed' THEN r.column3 ELSE outbox.status_cause END,
                    lease_until = NULL,
                    attempts = outbox.attempts - r.column10,
                    send_at = CASE WHEN outbox.status = 'claimed' THEN COALESCE(r.column4, outbox.send_at)
                                   ELSE outbox.send_at END,
                    gateway = COALESCE(r.column5, outbox.gateway),
                    provider_id = COALESCE(r.column6, outbox.provider_id),
                    to_addr = COALESCE(r.column7, outbox.to_addr),
                    body = COALESCE(r.column8, outbox.body),
                    parts = COALESCE(r.column9, outbox.parts),
                    channel = COALESCE(r.column11, outbox.channel),
                    updated_at = ",
        );
        qb.push_bind(now);
        qb.push(" FROM (");
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id)
                .push_bind(r.status)
                .push_bind(&r.cause)
                .push_bind(r.retry_at)
                .push_bind(&r.gateway)
                .push_bind(&r.provider_id)
                .push_bind(&r.to_addr)
                .push_bind(&r.body)
                .push_bind(r.parts)
                .push_bind(i64::from(r.undo_attempt))
                .push_bind(r.channel)
                .push_bind(r.attempt);
        });
        qb.push(
            ") AS r WHERE outbox.id = r.column1 AND outbox.attempts = r.column12
               AND (outbox.status = 'claimed'
                    OR (outbox.lease_until IS NOT NULL
                        AND outbox.status IN ('accepted', 'sent', 'delivered', 'failed')))",
        );
        qb.build()
            .persistent(full_chunk(chunk.len()))
            .execute(&mut *tx)
            .await?;
    }
    let fallbacks: Vec<i64> = results
        .iter()
        .filter(|r| r.fallback)
        .map(|r| r.id)
        .collect();
    if !fallbacks.is_empty() {
        write_fallbacks(&mut tx, &fallbacks, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn apply_status_reports(
    write: &SqlitePool,
    reports: &[StatusReport],
) -> Result<u64> {
    let mut tx = write.begin_write().await?;
    let changed = apply_reports(&mut tx, reports).await?;
    tx.commit().await?;
    Ok(changed)
}

pub(super) async fn apply_receipts(
    write: &SqlitePool,
    items: &[(Option<(String, String)>, StatusReport)],
    now: i64,
) -> Result<Vec<bool>> {
    let mut tx = write.begin_write().await?;
    // Each event id once, whatever the group holds: one statement per
    // few hundred, and what it inserted says which are new.
    let events: Vec<&(String, String)> = items.iter().filter_map(|(e, _)| e.as_ref()).collect();
    let mut inserted = std::collections::HashSet::new();
    for chunk in events.chunks(rows_per_statement(3)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO webhook_events (gateway, event_id, received_at) ",
        );
        qb.push_values(chunk, |mut b, (gateway, id)| {
            b.push_bind(gateway).push_bind(id).push_bind(now);
        });
        qb.push(" ON CONFLICT DO NOTHING RETURNING gateway, event_id");
        let rows: Vec<(String, String)> = qb
            .build_query_as()
            .persistent(full_chunk(chunk.len()))
            .fetch_all(&mut *tx)
            .await?;
        inserted.extend(rows);
    }
    let (new, apply) = super::fresh_receipts(items, inserted);
    apply_reports(&mut tx, &apply).await?;
    tx.commit().await?;
    Ok(new)
}

/// Applies reports forward only, in one transaction: a message's reports in
/// rank order, in waves of one statement each (the n-th report of every
/// message in wave n), so a batch costs a statement or two whatever its size.
/// SQLite's; PostgreSQL's twin is in `postgres.rs`.
pub(super) async fn apply_reports(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    reports: &[crate::domain::StatusReport],
) -> Result<u64> {
    let (from_rank, to_rank) = (rank("outbox.status"), rank("r.column2"));
    let mut changed = 0;
    for wave in waves(reports) {
        for chunk in wave.chunks(rows_per_statement(5)) {
            // A failure reported after delivery is kept as an event; it does not undo delivery.
            let late: Vec<_> = chunk
                .iter()
                .filter(|r| r.status == crate::domain::ReportedStatus::Failed)
                .collect();
            if !late.is_empty() {
                let mut qb = QueryBuilder::<Sqlite>::new(
                        "INSERT INTO outbox_events (outbox_id, status, at, cause)
                         SELECT o.id, 'failed', r.column2, 'reported after delivery: ' || COALESCE(r.column3, '')
                         FROM (",
                    );
                qb.push_values(&late, |mut b, r| {
                    b.push_bind(r.message_id)
                        .push_bind(ts(r.at))
                        .push_bind(&r.reason)
                        .push_bind(&r.gateway);
                });
                qb.push(
                    ") AS r JOIN outbox o ON o.id = r.column1 WHERE o.status = 'delivered'
                       AND (r.column4 IS NULL OR o.gateway = r.column4)",
                );
                qb.build().persistent(false).execute(&mut **tx).await?;
            }
            let mut qb = QueryBuilder::<Sqlite>::new(
                    "UPDATE outbox SET status = r.column2, status_cause = r.column3, updated_at = r.column4 FROM (",
                );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.message_id)
                    .push_bind(r.status.as_str())
                    .push_bind(&r.reason)
                    .push_bind(ts(r.at))
                    .push_bind(&r.gateway);
            });
            // A gateway's word counts only for a message it carried (or
            // one whose hand-over is not written yet: its gateway unknown).
            qb.push(format!(
                ") AS r WHERE outbox.id = r.column1
                       AND outbox.status NOT IN ('delivered', 'failed', 'cancelled', 'expired')
                       AND {from_rank} < {to_rank}
                       AND (r.column5 IS NULL OR outbox.gateway = r.column5
                            OR outbox.gateway IS NULL)"
            ));
            changed += qb
                .build()
                .persistent(full_chunk(chunk.len()))
                .execute(&mut **tx)
                .await?
                .rows_affected();
        }
    }
    Ok(changed)
}

/// Writes one SMS stand-in for each of `ids` that failed on WeChat or
/// WeCom: same woman or staff member, step, visit and grace, sent now,
/// linked by `fallback_of`. At most one per message, ever (a unique index),
/// and none for a message that reached her after all. SQLite's;
/// PostgreSQL's twin is in `postgres.rs`.
pub(super) async fn write_fallbacks(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    ids: &[i64],
    now: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO outbox (dedupe_key, woman_id, staff_id, pregnancy_id, visit_id, step_id, kind, in_reply_to,
                             channel, status, status_cause, send_at, expires_at, outreach, broadcast_id, fallback_of,
                             body, created_at, updated_at)
         SELECT o.dedupe_key || ':sms', o.woman_id, o.staff_id, o.pregnancy_id, o.visit_id, o.step_id, o.kind,
                o.in_reply_to, 'sms', 'scheduled', 'SMS instead of message ' || o.id || ', which failed on ' || o.channel,
                ?2, o.expires_at, o.outreach, o.broadcast_id, o.id,
                CASE WHEN o.step_id IS NULL THEN o.body END, ?2, ?2
         FROM outbox o
         WHERE o.id IN (SELECT value FROM json_each(?1)) AND o.status IN ('failed', 'expired')
           AND o.channel IN ('wechat', 'wecom') AND (o.woman_id IS NOT NULL OR o.staff_id IS NOT NULL)
         ON CONFLICT DO NOTHING",
    )
    .bind(serde_json::to_string(ids).expect("json"))
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}
