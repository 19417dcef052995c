//! The outbox's sending path on PostgreSQL: claims several instances take
//! at once without ever taking the same message (`FOR UPDATE SKIP
//! LOCKED`), lease renewals, results, receipts and SMS stand-ins; and the
//! planner's inserts. Batches travel as arrays (`unnest`), one statement
//! per batch. The SQLite twins are in `sqlite.rs`.

use super::{rank, waves, ClaimRow, NewOutboxRow, SendResult};
use crate::domain::StatusReport;
use crate::store::{ts, Result, StoreError};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

/// Takes back claims whose lease passed, expires what is past its grace,
/// and claims up to `limit` due messages until `lease_until`: rows another
/// instance is claiming at the same moment are skipped, not waited for.
pub(super) async fn claim_due(
    pool: &PgPool,
    now: i64,
    lease_until: i64,
    limit: i64,
    window_open: bool,
) -> Result<(Vec<ClaimRow>, u64)> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE outbox SET status = 'scheduled', status_cause = 'lease expired: taken back', lease_until = NULL, updated_at = $1
         WHERE status = 'claimed' AND lease_until <= $1",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let expired = sqlx::query(
        "UPDATE outbox SET status = 'expired', status_cause = 'past its grace: not sent late', updated_at = $1
         WHERE status = 'scheduled' AND expires_at <= $1",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let batch: Option<String> = sqlx::query_scalar(
        "WITH urgent AS (
             -- Reminders, replies and alerts first; outreach fills what room is left.
             SELECT id, 0 AS lane, send_at FROM outbox
              WHERE status = 'scheduled' AND NOT outreach AND send_at <= $1 AND ($3 OR kind = 'reply')
              ORDER BY send_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),
         later AS (
             SELECT id, 1 AS lane, send_at FROM outbox
              WHERE status = 'scheduled' AND outreach AND send_at <= $1 AND $3
              ORDER BY send_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),
         due AS (
             SELECT * FROM (SELECT * FROM urgent UNION ALL SELECT * FROM later) d
              ORDER BY lane, send_at, id LIMIT $2),
         claimed AS (
             UPDATE outbox o SET status = 'claimed', status_cause = NULL, lease_until = $5,
                    attempts = o.attempts + 1, first_tried_at = COALESCE(o.first_tried_at, $1), updated_at = $1
               FROM due WHERE o.id = due.id
             RETURNING o.*)
         SELECT json_agg(json_build_object(
                'id', o.id, 'attempts', o.attempts - 1, 'step_id', o.step_id, 'expires_at', o.expires_at,
                'first_tried_at', o.first_tried_at, 'kind', o.kind, 'outreach', o.outreach::int,
                'broadcast_id', o.broadcast_id,
                -- A step's text is rendered afresh on every try; body then holds what was last sent.
                'preset_body', CASE WHEN o.step_id IS NULL THEN o.body END,
                'woman_id', w.id, 'to_staff', (o.staff_id IS NOT NULL)::int,
                'name', COALESCE(w.name, st.name, ''),
                'phone', CASE WHEN o.woman_id IS NOT NULL THEN w.phone
                              WHEN o.staff_id IS NOT NULL THEN st.phone ELSE o.to_addr END,
                'language', COALESCE(w.language, st.language, $4),
                'village', COALESCE(w.village, st.village),
                'can_receive', (CASE WHEN o.kind = 'reminder' THEN (w.consent_at IS NOT NULL AND w.opted_out_at IS NULL
                                                                     AND w.erased_at IS NULL)
                                     ELSE w.erased_at IS NULL END)::int,
                -- A stopped broadcast sends nothing more, even what was claimed.
                'stopped', (o.broadcast_id IS NOT NULL
                            AND (SELECT b.status FROM broadcasts b WHERE b.id = o.broadcast_id) <> 'published')::int,
                -- A home visit names every home visit of that day (hers and the baby's).
                'label_zh', CASE WHEN v.home THEN (
                                SELECT string_agg(x.label_zh, '和' ORDER BY x.newborn, x.seq) FROM visits x
                                 WHERE x.pregnancy_id = v.pregnancy_id AND x.due_on = v.due_on
                                   AND x.home AND NOT x.task AND x.status <> 'cancelled')
                             ELSE v.label_zh END,
                'label_en', CASE WHEN v.home THEN (
                                SELECT string_agg(x.label_en, ' and ' ORDER BY x.newborn, x.seq) FROM visits x
                                 WHERE x.pregnancy_id = v.pregnancy_id AND x.due_on = v.due_on
                                   AND x.home AND NOT x.task AND x.status <> 'cancelled')
                             ELSE v.label_en END,
                'home_visit', COALESCE(v.home, FALSE)::int,
                'due_on', v.due_on,
                'window_end', v.window_end, 'lmp', p.lmp, 'fallback_of', o.fallback_of,
                'risk_colour', p.risk_colour, 'risk_purple', COALESCE(p.risk_purple, FALSE)::int,
                'wechat_to', CASE WHEN o.fallback_of IS NULL AND o.woman_id IS NOT NULL AND w.erased_at IS NULL
                                       AND w.wechat_unfollowed_at IS NULL THEN w.wechat_openid END,
                'wecom_to', CASE WHEN o.fallback_of IS NULL THEN st.wecom_userid END,
                'reply_gateway', i.gateway, 'reply_sender', i.sender)
                ORDER BY due.lane, due.send_at, due.id)::text
         FROM due JOIN claimed o ON o.id = due.id
         LEFT JOIN women w ON w.id = o.woman_id
         LEFT JOIN staff st ON st.id = o.staff_id
         LEFT JOIN visits v ON v.id = o.visit_id
         LEFT JOIN pregnancies p ON p.id = o.pregnancy_id
         LEFT JOIN inbound i ON i.id = o.in_reply_to AND o.fallback_of IS NULL",
    )
    .bind(now)
    .bind(limit)
    .bind(window_open)
    .bind(crate::render::FALLBACK_LANGUAGE)
    .bind(lease_until)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let rows: Vec<ClaimRow> = serde_json::from_str(batch.as_deref().unwrap_or("[]"))
        .map_err(|e| StoreError::Corrupt(format!("claimed batch: {e}")))?;
    Ok((rows, expired))
}

/// Extends the leases of the claims `held` names (id, attempt) that still stand.
pub(super) async fn renew_leases(pool: &PgPool, held: &[(i64, i64)], until: i64) -> Result<u64> {
    let (ids, attempts): (Vec<i64>, Vec<i64>) = held.iter().copied().unzip();
    Ok(sqlx::query(
        "UPDATE outbox SET lease_until = $1
           FROM unnest($2::bigint[], $3::bigint[]) AS h (id, attempt)
          WHERE outbox.id = h.id AND outbox.attempts = h.attempt
            -- Per claim, not a filter on outbox: as in `record_results`.
            AND (outbox.status = 'claimed' OR h.id IS NULL)",
    )
    .bind(until)
    .bind(ids)
    .bind(attempts)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Records a batch's results, each only while its claim stands, as on SQLite.
pub(super) async fn record_results(
    mut tx: Transaction<'static, Postgres>,
    results: &[SendResult],
    now: i64,
) -> Result<()> {
    let col = |f: fn(&SendResult) -> Option<String>| results.iter().map(f).collect::<Vec<_>>();
    let num = |f: fn(&SendResult) -> Option<i64>| results.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "UPDATE outbox SET
                status = CASE WHEN outbox.status = 'claimed' THEN r.status ELSE outbox.status END,
                status_cause = CASE WHEN outbox.status = 'claimed' THEN r.cause ELSE outbox.status_cause END,
                lease_until = NULL,
                attempts = outbox.attempts - r.undo,
                send_at = CASE WHEN outbox.status = 'claimed' THEN COALESCE(r.retry_at, outbox.send_at)
                               ELSE outbox.send_at END,
                gateway = COALESCE(r.gateway, outbox.gateway),
                provider_id = COALESCE(r.provider_id, outbox.provider_id),
                to_addr = COALESCE(r.to_addr, outbox.to_addr),
                body = COALESCE(r.body, outbox.body),
                parts = COALESCE(r.parts, outbox.parts),
                channel = COALESCE(r.channel, outbox.channel),
                updated_at = $1
           FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::text[], $13::bigint[])
                AS r (id, status, cause, retry_at, gateway, provider_id, to_addr, body, parts, undo, channel, attempt)
          WHERE outbox.id = r.id AND outbox.attempts = r.attempt
            -- Judged per result, not as a filter on outbox (the last arm
            -- names r, and is never true): statistics gathered before the
            -- claim say no row is claimed, and a filter thought to keep
            -- none made the planner scan all of outbox once per result
            -- (seconds a batch) instead of finding each by its key.
            AND (outbox.status = 'claimed'
                 OR (outbox.lease_until IS NOT NULL
                     AND outbox.status IN ('accepted', 'sent', 'delivered', 'failed'))
                 OR r.id IS NULL)",
    )
    .bind(now)
    .bind(results.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(col(|r| Some(r.status.as_str().to_string())))
    .bind(col(|r| r.cause.clone()))
    .bind(num(|r| r.retry_at))
    .bind(col(|r| r.gateway.clone()))
    .bind(col(|r| r.provider_id.clone()))
    .bind(col(|r| r.to_addr.clone()))
    .bind(col(|r| r.body.clone()))
    .bind(num(|r| r.parts))
    .bind(num(|r| Some(i64::from(r.undo_attempt))))
    .bind(col(|r| r.channel.map(|c| c.as_str().to_string())))
    .bind(num(|r| Some(r.attempt)))
    .execute(&mut *tx)
    .await?;
    let fallbacks: Vec<i64> = results
        .iter()
        .filter(|r| r.fallback)
        .map(|r| r.id)
        .collect();
    if !fallbacks.is_empty() {
        // One SMS stand-in for each message that failed on WeChat or WeCom.
        write_fallbacks(&mut *tx, &fallbacks, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Writes one SMS stand-in for each of `ids` that failed on WeChat or
/// WeCom, as on SQLite (`write_fallbacks` in `sqlite.rs`): at most one
/// per message, ever, and none for a message that reached her after all.
pub(super) async fn write_fallbacks(
    db: impl sqlx::PgExecutor<'_>,
    ids: &[i64],
    now: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO outbox (dedupe_key, woman_id, staff_id, pregnancy_id, visit_id, step_id, kind, in_reply_to,
                             channel, status, status_cause, send_at, expires_at, outreach, broadcast_id, fallback_of,
                             body, created_at, updated_at)
         SELECT o.dedupe_key || ':sms', o.woman_id, o.staff_id, o.pregnancy_id, o.visit_id, o.step_id, o.kind,
                o.in_reply_to, 'sms', 'scheduled', 'SMS instead of message ' || o.id || ', which failed on ' || o.channel,
                $2, o.expires_at, o.outreach, o.broadcast_id, o.id,
                CASE WHEN o.step_id IS NULL THEN o.body END, $2, $2
         FROM outbox o
         WHERE o.id = ANY($1) AND o.status IN ('failed', 'expired')
           AND o.channel IN ('wechat', 'wecom') AND (o.woman_id IS NOT NULL OR o.staff_id IS NOT NULL)
         ON CONFLICT DO NOTHING",
    )
    .bind(ids)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected())
}

/// Writes planned messages, skipping those whose key exists already, in one
/// statement whatever the batch's size: its columns travel as arrays, rows
/// inserted in the batch's order. Returns how many are new.
pub(super) async fn insert_planned(pool: &PgPool, rows: &[NewOutboxRow], now: i64) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let num = |f: fn(&NewOutboxRow) -> i64| rows.iter().map(f).collect::<Vec<_>>();
    Ok(sqlx::query(
        "INSERT INTO outbox (dedupe_key, woman_id, pregnancy_id, visit_id, step_id, send_at, expires_at,
                             outreach, created_at, updated_at, status, status_cause)
         SELECT r.dedupe_key, r.woman_id, r.pregnancy_id, r.visit_id, r.step_id, r.send_at, r.expires_at,
                r.outreach, $9, $9, 'scheduled', 'planned'
           FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                       $7::bigint[], $8::boolean[])
                WITH ORDINALITY AS r (dedupe_key, woman_id, pregnancy_id, visit_id, step_id, send_at, expires_at,
                                      outreach, n)
          ORDER BY r.n
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.dedupe_key.as_str()).collect::<Vec<_>>())
    .bind(num(|r| r.woman_id))
    .bind(num(|r| r.pregnancy_id))
    .bind(rows.iter().map(|r| r.visit_id).collect::<Vec<_>>())
    .bind(num(|r| r.step_id))
    .bind(num(|r| ts(r.send_at)))
    .bind(num(|r| ts(r.expires_at)))
    .bind(rows.iter().map(|r| r.outreach).collect::<Vec<_>>())
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Applies reports forward only, as on SQLite: one statement per wave.
pub(super) async fn apply_reports(
    tx: &mut Transaction<'static, Postgres>,
    reports: &[StatusReport],
) -> Result<u64> {
    let (from_rank, to_rank) = (rank("outbox.status"), rank("r.status"));
    let mut changed = 0;
    for wave in waves(reports) {
        // A failure reported after delivery is kept as an event; it does not undo delivery.
        let late: Vec<&&StatusReport> = wave
            .iter()
            .filter(|r| r.status == crate::domain::ReportedStatus::Failed)
            .collect();
        if !late.is_empty() {
            sqlx::query(
                "INSERT INTO outbox_events (outbox_id, status, at, cause)
                 SELECT o.id, 'failed', r.at, 'reported after delivery: ' || COALESCE(r.reason, '')
                   FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS r (id, at, reason, gateway)
                   JOIN outbox o ON o.id = r.id
                  WHERE (o.status = 'delivered' OR r.id IS NULL) -- per report: see `record_results`
                    AND (r.gateway IS NULL OR o.gateway = r.gateway)",
            )
            .bind(late.iter().map(|r| r.message_id).collect::<Vec<_>>())
            .bind(late.iter().map(|r| ts(r.at)).collect::<Vec<_>>())
            .bind(late.iter().map(|r| r.reason.clone()).collect::<Vec<_>>())
            .bind(late.iter().map(|r| r.gateway.clone()).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        // A gateway's word counts only for a message it carried (or one
        // whose hand-over is not written yet: its gateway unknown).
        changed += sqlx::query(&format!(
            "UPDATE outbox SET status = r.status, status_cause = r.reason, updated_at = r.at
               FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[])
                    AS r (id, status, reason, at, gateway)
              WHERE outbox.id = r.id
                -- Per report, not a filter on outbox: see `record_results`.
                AND (outbox.status NOT IN ('delivered', 'failed', 'cancelled', 'expired') OR r.id IS NULL)
                AND {from_rank} < {to_rank}
                AND (r.gateway IS NULL OR outbox.gateway = r.gateway OR outbox.gateway IS NULL)"
        ))
        .bind(wave.iter().map(|r| r.message_id).collect::<Vec<_>>())
        .bind(
            wave.iter()
                .map(|r| r.status.as_str().to_string())
                .collect::<Vec<_>>(),
        )
        .bind(wave.iter().map(|r| r.reason.clone()).collect::<Vec<_>>())
        .bind(wave.iter().map(|r| ts(r.at)).collect::<Vec<_>>())
        .bind(wave.iter().map(|r| r.gateway.clone()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(changed)
}

/// Receipts from many webhook requests in one transaction; those carrying
/// an envelope id seen before are acknowledged and not applied again.
pub(super) async fn apply_receipts(
    pool: &PgPool,
    items: &[(Option<(String, String)>, StatusReport)],
    now: i64,
) -> Result<Vec<bool>> {
    let mut tx = pool.begin().await?;
    // Every event id of the group in one statement; what it inserted
    // says which are new.
    let (gateways, ids): (Vec<&str>, Vec<&str>) = items
        .iter()
        .filter_map(|(e, _)| e.as_ref().map(|(g, i)| (g.as_str(), i.as_str())))
        .unzip();
    let inserted: std::collections::HashSet<(String, String)> = if ids.is_empty() {
        Default::default()
    } else {
        sqlx::query_as(
            "INSERT INTO webhook_events (gateway, event_id, received_at)
             SELECT g, i, $3 FROM unnest($1::text[], $2::text[]) AS e (g, i)
             ON CONFLICT DO NOTHING RETURNING gateway, event_id",
        )
        .bind(gateways)
        .bind(ids)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect()
    };
    let (new, apply) = super::fresh_receipts(items, inserted);
    apply_reports(&mut tx, &apply).await?;
    tx.commit().await?;
    Ok(new)
}
