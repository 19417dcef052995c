//! `careminder bench`: how fast careminder imports, plans and sends, on a
//! fresh temporary database, next to the floor measured in the same run:
//! the rate at which the same SQLite file, with the same pragmas, takes
//! the same row writes as plain batched statements.
//!
//! For each scale N it registers N synthetic pregnancies (a roster CSV made
//! in memory, the same shape as `shared/fixtures/make_roster.py`), plans one
//! day of reminders, dispatches that day's messages through the whole path
//! (claim, render, mock gateway, batched result writes, status events),
//! then serves HTTP on loopback and posts, from concurrent clients, one
//! signed delivery receipt and one reply per message to the Android
//! gateway's webhook. It checks that the gateway got every planned message
//! exactly once and that no receipt or reply was lost.

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::schedule::local_to_utc;
use anyhow::{ensure, Result};
use chrono::{Duration, NaiveDate, NaiveTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Registered pregnancies, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100_000usize, 1_000_000])]
    sizes: Vec<usize>,
    /// Women whose check-ups fall on the planned day, the same at every
    /// scale: the rest of the population has nothing due that day, so the
    /// planning time shows whether cost follows what is due or who is registered.
    #[arg(long, default_value_t = 5000)]
    due: usize,
    /// Directory for the temporary databases (default: the system temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// An empty PostgreSQL database to run every size on too, after
    /// SQLite: both backends' rows are printed in one run, each against the
    /// floors measured on its own backend in the same run.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

/// The day whose reminders are planned and sent; registrations are dated so
/// that pregnancies are spread evenly over the 40 weeks before it.
const TODAY: (i32, u32, u32) = (2026, 12, 1);

struct Row {
    n: usize,
    import_s: f64,
    /// The same rows written again as plain INSERT ... SELECT into copies
    /// of their tables: the import's floor.
    import_floor_s: f64,
    plan_s: f64,
    planned: u64,
    dispatch_s: f64,
    callbacks_s: f64,
    replies_s: f64,
    /// Messages a broadcast to every woman planned, and the seconds it took.
    broadcast: u64,
    broadcast_s: f64,
    /// The same transitions as plain UPDATEs on a scratch copy of the
    /// outbox (its indexes and trigger): the floor the phases are held to.
    floor_send_per_s: f64,
    floor_callback_per_s: f64,
    /// The bare floor: a table with only its key, for comparison (SQLite;
    /// PostgreSQL's floor is of that kind already).
    bare: Option<(f64, f64)>,
    /// PostgreSQL: seconds for 1, 2 and 4 instances to send the day at once.
    instances_s: Option<[f64; 3]>,
    /// Peak RSS after each phase: import, plan, dispatch, webhooks.
    rss_mb: [f64; 4],
}

pub async fn run(args: BenchArgs, db: Option<crate::config::DatabaseUrl>) -> Result<()> {
    // The backends to run, in order: PostgreSQL alone with `--db
    // postgres://…`; else SQLite, then PostgreSQL when `--postgres` names one.
    let pg_url = match (db, &args.postgres) {
        (Some(crate::config::DatabaseUrl::Postgres(url)), _) => Some((url, false)),
        (_, Some(url)) => Some((url.clone(), true)),
        _ => None,
    };
    let pg = match pg_url {
        Some((url, after_sqlite)) => {
            let pool = crate::store::postgres::open(&url, 2).await?;
            ensure!(
                !crate::store::postgres::holds_data(&pool).await?,
                "the benchmark empties the PostgreSQL database it runs on: give it an empty one \
                 (this one holds careminder data)"
            );
            Some(((pool, url), after_sqlite))
        }
        None => None,
    };
    let mut backends: Vec<Option<&(sqlx::PgPool, String)>> = vec![];
    match &pg {
        Some((pool, true)) => backends.extend([None, Some(pool)]),
        Some((pool, false)) => backends.push(Some(pool)),
        None => backends.push(None),
    }
    let dir = scratch_dir(&args)?;
    let both = backends.len() > 1;
    for backend in backends {
        let mut rows = vec![];
        for &n in &args.sizes {
            eprintln!(
                "bench{}: N = {n} ...",
                if backend.is_some() {
                    " (PostgreSQL)"
                } else {
                    ""
                }
            );
            // Each row's peak memory is its own: the kernel's high-water
            // mark starts again from what the process holds now.
            reset_peak_rss();
            let r = one(n, args.due.min(n), dir.path(), backend).await;
            if let Some((pool, _)) = backend {
                crate::store::postgres::reset_for_bench(pool).await?;
            }
            rows.push(r?);
        }
        if both {
            print!(
                "\n== {} ==",
                if backend.is_some() {
                    "PostgreSQL"
                } else {
                    "SQLite"
                }
            );
        }
        print!("{}", table(&rows));
    }
    Ok(())
}

/// Starts the process's peak resident memory (VmHWM) again from its
/// resident memory now (`clear_refs` 5, Linux 4.0+); where that is not
/// allowed the peak stays the process's whole run's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The temporary directory a run's databases live in, gone when it ends.
fn scratch_dir(args: &BenchArgs) -> Result<tempfile::TempDir> {
    let b = tempfile::Builder::new().prefix("careminder-bench").clone();
    Ok(match &args.dir {
        Some(d) => b.tempdir_in(d)?,
        None => b.tempdir()?,
    })
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let on_pg = rows.iter().any(|r| r.instances_s.is_some());
    let _ = writeln!(
        out,
        "\n{:>9} | {:>9} {:>5} | {:>8} {:>6} | {:>10} {:>5} {:>5} | {:>11} {:>5} {:>5} | {:>9} | {:>16} | {:>17} | {:>17} | peak RSS MB: import/plan/dispatch/webhooks",
        "N",
        "import/s",
        "floor",
        "plan day",
        "msgs",
        "dispatch/s",
        "floor",
        "bare",
        "callbacks/s",
        "floor",
        "bare",
        "replies/s",
        "broadcast plan",
        "floor send/cb /s",
        "bare send/cb /s",
    );
    let pct = |x: f64, of: f64| format!("{:.0}%", 100.0 * x / of);
    for r in rows {
        let m = r.planned as f64;
        let (dispatch, callbacks, replies) = (m / r.dispatch_s, m / r.callbacks_s, m / r.replies_s);
        let (bare_send, bare_cb) = r.bare.unwrap_or((f64::NAN, f64::NAN));
        let or_dash = |x: String| {
            if x.contains("NaN") {
                "-".to_string()
            } else {
                x
            }
        };
        let _ = writeln!(
            out,
            "{:>9} | {:>9.0} {:>5} | {:>6.0}ms {:>6} | {:>10.0} {:>5} {:>5} | {:>11.0} {:>5} {:>5} | {:>9.0} | {:>7} in {:>5.2}s | {:>8.0} {:>8.0} | {:>8} {:>8} | {:.0}/{:.0}/{:.0}/{:.0}",
            r.n,
            r.n as f64 / r.import_s,
            pct(r.import_floor_s, r.import_s),
            r.plan_s * 1000.0,
            r.planned,
            dispatch,
            pct(dispatch, r.floor_send_per_s),
            or_dash(pct(dispatch, bare_send)),
            callbacks,
            pct(callbacks, r.floor_callback_per_s),
            or_dash(pct(callbacks, bare_cb)),
            replies,
            r.broadcast,
            r.broadcast_s,
            r.floor_send_per_s,
            r.floor_callback_per_s,
            or_dash(format!("{bare_send:.0}")),
            or_dash(format!("{bare_cb:.0}")),
            r.rss_mb[0],
            r.rss_mb[1],
            r.rss_mb[2],
            r.rss_mb[3],
        );
    }
    if on_pg {
        let _ = writeln!(
            out,
            "\n{:>9} | {:>6} | {:>19} {:>19} {:>19}",
            "N", "msgs", "1 instance /s", "2 instances /s", "4 instances /s"
        );
        for r in rows {
            let Some(s) = r.instances_s else { continue };
            let m = r.planned as f64;
            let rate = |s: f64| format!("{:>8.0} {:>4}", m / s, pct(m / s, r.floor_send_per_s));
            let _ = writeln!(
                out,
                "{:>9} | {:>6} | {:>19} {:>19} {:>19}",
                r.n,
                r.planned,
                rate(s[0]),
                rate(s[1]),
                rate(s[2])
            );
        }
    }
    let floors = if on_pg {
        "floor: on PostgreSQL, the import's rows written again as plain INSERT ... SELECT, 2000 women per\n\
         transaction, into copies of their tables (LIKE ... INCLUDING ALL); a send and a callback as plain\n\
         keyed UPDATEs and event INSERTs on a scratch table on the same server, 1000 messages per\n\
         transaction. N instances: the day planned again and sent by N apps on the database at once\n\
         (claims FOR UPDATE SKIP LOCKED, each its own pool and mock gateway; every message handed over\n\
         once across them), against the send floor."
    } else {
        "floor: the same rows written again as plain INSERT ... SELECT, 2000 women per transaction, into\n\
         copies of their tables; the same transitions as plain keyed UPDATEs, 1000 messages per\n\
         transaction, measured in this run on this file with these pragmas, on a scratch copy of the\n\
         outbox (its columns, indexes and status-event trigger): a send is claimed then accepted\n\
         (gateway id, text, address), a callback is delivered. bare: the same UPDATEs plus explicit event\n\
         INSERTs on a table with only its key. The percentages are each phase against them."
    };
    let _ = writeln!(
        out,
        "\nimport: roster CSV rows registered (woman, pregnancy, visits), batched.\n\
         plan day: planning one day's reminders; a fixed cohort has reminders that day at every N.\n\
         dispatch: claim + render + mock gateway + batched result writes + status events, per message.\n\
         callbacks: signed sms:delivered webhooks over loopback HTTP, {CONCURRENCY} clients, one per message.\n\
         replies: signed sms:received webhooks (\"1\": confirm attendance), stored and acted on, one per message.\n\
         broadcast plan: publishing a broadcast to every registered woman: its outbox rows, in one statement.\n\
         {floors}\n\
         RSS: peak resident memory (VmHWM) of this process (the service) after each phase, from the\n\
         start of its row (the kernel's high-water mark is reset before each row)."
    );
    out
}

/// HTTP clients in flight at once in the webhook phases.
const CONCURRENCY: usize = 32;
const SIGNING_KEY: &str = "bench-signing-key";

/// Posts signed Android-gateway webhooks for `events` over loopback,
/// `CONCURRENCY` at a time; fails on any answer but 200.
async fn post_webhooks(
    addr: std::net::SocketAddr,
    events: Vec<serde_json::Value>,
    now: i64,
) -> Result<f64> {
    use futures::StreamExt;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/webhooks/android");
    let t = Instant::now();
    let results: Vec<Result<u16, reqwest::Error>> = futures::stream::iter(events)
        .map(|e| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let body = serde_json::to_vec(&e).expect("json");
                let ts = now.to_string();
                let sig = crate::gateway::android::sign(SIGNING_KEY, &body, &ts);
                let r = client
                    .post(url)
                    .header("X-Timestamp", ts)
                    .header("X-Signature", sig)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                Ok(r.status().as_u16())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let secs = t.elapsed().as_secs_f64();
    let bad = results.iter().filter(|r| !matches!(r, Ok(200))).count();
    ensure!(bad == 0, "{bad} webhook requests failed");
    Ok(secs)
}

/// One scale N, on a SQLite file in `dir`, or on the (empty) PostgreSQL
/// database `pg` names.
async fn one(n: usize, due: usize, dir: &Path, pg: Option<&(sqlx::PgPool, String)>) -> Result<Row> {
    let today = NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("date");
    let mut config = Config {
        database: match pg {
            Some((_, url)) => crate::config::DatabaseUrl::Postgres(url.clone()),
            None => dir.join(format!("bench-{n}.db")).into(),
        },
        ..Config::default()
    };
    // A phone whose signed webhooks carry the receipts and replies.
    let phone = crate::config::GatewayConfig::new(crate::config::ChannelSettings::Android(
        crate::gateway::android::Settings {
            base_url: "http://127.0.0.1:9".into(),
            signing_key: SIGNING_KEY.into(),
            ..Default::default()
        },
    ));
    config.gateways.insert("phone".into(), phone);
    let tz = config.timezone;
    let at = |d: NaiveDate, h: u32| {
        local_to_utc(
            tz,
            d.and_time(NaiveTime::from_hms_opt(h, 0, 0).expect("time")),
        )
    };
    let clock = Clock::manual(at(today, 7));
    let app = App::open(config, clock.clone()).await?;

    // Plan tomorrow, as the sweep would: firings in (tomorrow 00:00, tomorrow 24:00].
    let day = today + Duration::days(1);
    let (from, to) = (at(day, 0), at(day + Duration::days(1), 0));
    let (hot, cold) = lmp_offsets(&app, today, from, to).await?;
    let csv_path = dir.join(format!("roster-{n}.csv"));
    // Written straight to the file: the harness's roster should not count
    // in the service's peak memory.
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
        write_synthetic_roster(&mut f, n, due, today, &hot, &cold, 7)?;
        std::io::Write::flush(&mut f)?;
    }
    // Each timed phase starts with an empty write-ahead log.
    settle(&app).await?;
    let t = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&csv_path)?);
    let report =
        crate::services::importer::import(&app.care, file, "bench", "bench", |_| {}).await?;
    let import_s = t.elapsed().as_secs_f64();
    std::fs::remove_file(&csv_path)?;
    ensure!(
        report.created as usize == n,
        "imported {} of {n}: {:?}",
        report.created,
        report.refused.first()
    );
    let mut rss_mb = [peak_rss_mb(), 0.0, 0.0, 0.0];

    settle(&app).await?;
    let t = Instant::now();
    let plan = app.planner.plan_range(from, to, None, clock.now()).await?;
    let plan_s = t.elapsed().as_secs_f64();
    app.store.set_planned_until(to).await?;
    rss_mb[1] = peak_rss_mb();

    // Send them all at 12:00 that day (every step of the day has fired).
    clock.set(at(day, 12));
    settle(&app).await?;
    let t = Instant::now();
    let d = app.dispatcher.drain(clock.now()).await?;
    let dispatch_s = t.elapsed().as_secs_f64();
    let mock = app.mock.clone().expect("mock");
    ensure!(
        d.handed_over == plan.planned,
        "handed over {} of {} planned",
        d.handed_over,
        plan.planned
    );
    ensure!(
        mock.sent().len() as u64 == plan.planned && mock.duplicates() == 0,
        "gateway saw duplicates or missed some"
    );

    // The mock's own receipts are dropped: the phone's webhooks bring them,
    // and a phone reports only on what it carried, so the phone is
    // recorded as the carrier (the mock stood in for its API).
    let _ = app.gateways.take_reports();
    app.store.bench_reassign_gateway("default", "phone").await?;
    rss_mb[2] = peak_rss_mb();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(crate::web::serve(app.clone(), listener, stopped, false));
    let sent = mock.sent();
    let now = clock.now().timestamp();
    let callbacks: Vec<serde_json::Value> = sent
        .iter()
        .map(|m| {
            serde_json::json!({"id": format!("ev-{}", m.message.id), "event": "sms:delivered",
                               "payload": {"messageId": crate::domain::delivery::wire_id(m.message.id)}})
        })
        .collect();
    settle(&app).await?;
    let callbacks_s = post_webhooks(addr, callbacks, now).await?;
    let delivered = app
        .store
        .status_counts(None)
        .await?
        .into_iter()
        .find(|c| c.status == crate::domain::MessageStatus::Delivered)
        .map(|c| c.count)
        .unwrap_or(0);
    ensure!(
        delivered as u64 == plan.planned,
        "{delivered} delivered of {}: writes lost",
        plan.planned
    );
    let replies: Vec<serde_json::Value> = sent
        .iter()
        .map(|m| {
            serde_json::json!({"id": format!("in-{}", m.message.id), "event": "sms:received",
                               "payload": {"messageId": format!("in-{}", m.message.id), "message": "1", "sender": m.message.to}})
        })
        .collect();
    settle(&app).await?;
    let replies_s = post_webhooks(addr, replies, now).await?;
    let stored = app.store.inbound_count().await?;
    ensure!(
        stored as u64 == plan.planned,
        "{stored} replies stored of {}: writes lost",
        plan.planned
    );
    let _ = stop.send(true);
    let _ = server.await;
    rss_mb[3] = peak_rss_mb();

    // A broadcast to every registered woman, planned (published) at once.
    let req = crate::services::broadcasts::NewBroadcast {
        name: "bench".into(),
        audience: Default::default(),
        texts: [(
            "zh-CN".to_string(),
            "{{ clinic }}每周二免费产前检查。回复TD退订".to_string(),
        )]
        .into_iter()
        .collect(),
        send_at: at(day + Duration::days(1), 10),
        cron: None,
        grace_hours: None,
        sms_templates: vec![],
    };
    let (bid, preview) = app.broadcasts.create(&req, "bench").await?;
    settle(&app).await?;
    let t = Instant::now();
    let broadcast = app.broadcasts.publish(bid, "bench").await?;
    let broadcast_s = t.elapsed().as_secs_f64();
    ensure!(
        broadcast as i64 == preview.recipients && broadcast as usize >= n * 9 / 10,
        "broadcast planned {broadcast} of {} previewed, {n} registered",
        preview.recipients
    );

    let floor_rows = plan.planned.max(10_000) as usize;
    let (import_floor_s, (floor_send_per_s, floor_callback_per_s), bare, instances_s) =
        if let Some((pool, _)) = pg {
            let instances_s = instances(&app, plan.planned, (from, to), at(day, 12)).await?;
            app.store.close().await;
            (
                crate::store::postgres::import_floor_benchmark(pool, 2000).await?,
                per_second(
                    floor_rows,
                    crate::store::postgres::floor_benchmark(pool, floor_rows, 1000).await?,
                ),
                None,
                Some(instances_s),
            )
        } else {
            // The floors last, so that the pages their scratch tables free
            // do not change how the phases above write.
            (
                app.store.import_floor_benchmark(2000).await?,
                per_second(
                    floor_rows,
                    app.store.outbox_floor_benchmark(floor_rows, 1000).await?,
                ),
                Some(per_second(
                    floor_rows,
                    app.store.floor_benchmark(floor_rows, 1000).await?,
                )),
                None,
            )
        };
    Ok(Row {
        n,
        import_s,
        import_floor_s,
        plan_s,
        planned: plan.planned,
        dispatch_s,
        callbacks_s,
        replies_s,
        broadcast,
        broadcast_s,
        floor_send_per_s,
        floor_callback_per_s,
        bare,
        instances_s,
        rss_mb,
    })
}

/// PostgreSQL: the day planned afresh, then sent by 1, 2 and 4 apps on the
/// database at once, as that many instances would (each its own pool and
/// mock gateway). Every message must reach exactly one gateway once.
/// Returns the seconds each took.
async fn instances(
    app: &App,
    planned: u64,
    (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    send_at: chrono::DateTime<chrono::Utc>,
) -> Result<[f64; 3]> {
    let mut secs = [0.0; 3];
    for (slot, k) in [1usize, 2, 4].into_iter().enumerate() {
        app.store.bench_clear_outbox().await?;
        let again = app.planner.plan_range(from, to, None, from).await?.planned;
        ensure!(again == planned, "planned {again} again of {planned}");
        settle(app).await?;
        let clock = Clock::manual(send_at);
        let mut apps = vec![];
        for _ in 0..k {
            apps.push(App::open((*app.config).clone(), clock.clone()).await?);
        }
        let t = Instant::now();
        let runs = apps.iter().map(|a| {
            let a = a.clone();
            tokio::spawn(async move { a.dispatcher.drain(send_at).await })
        });
        let mut handed_over = 0;
        for r in futures::future::join_all(runs).await {
            handed_over += r??.handed_over;
        }
        secs[slot] = t.elapsed().as_secs_f64();
        let mut seen = std::collections::HashSet::new();
        for a in &apps {
            let mock = a.mock.as_ref().expect("mock");
            ensure!(mock.duplicates() == 0, "a gateway got a message twice");
            for m in mock.sent() {
                ensure!(
                    seen.insert(m.message.id),
                    "{k} instances: message {} handed over by two",
                    m.message.id
                );
            }
        }
        ensure!(
            handed_over == planned && seen.len() as u64 == planned,
            "{k} instances handed over {handed_over} of {planned}"
        );
        for a in apps {
            a.store.close().await;
        }
    }
    Ok(secs)
}

/// Before each timed phase: SQLite's write-ahead log emptied (so a phase
/// does not pay for the checkpoint the one before left due), PostgreSQL's
/// statistics refreshed (as autovacuum would soon after a bulk change).
async fn settle(app: &App) -> Result<()> {
    app.store.checkpoint().await?;
    app.store.analyze().await?;
    Ok(())
}

/// Rates from the seconds a floor's send and callback phases took.
fn per_second(rows: usize, (send_s, callback_s): (f64, f64)) -> (f64, f64) {
    (rows as f64 / send_s, rows as f64 / callback_s)
}

/// Splits the possible LMPs (14-286 days before `today`) into those whose
/// visits some step fires for in `(from, to]` ("hot") and the others.
async fn lmp_offsets(
    app: &App,
    today: NaiveDate,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<i64>, Vec<i64>)> {
    use crate::domain::schedule::TriggerAnchor;
    let plan = app.store.plan(&app.config.care_plan).await?;
    let steps = app.store.active_steps().await?;
    let (mut hot, mut cold) = (vec![], vec![]);
    for k in 14..=286 {
        let dates = crate::domain::PregnancyDates::from_lmp(today - Duration::days(k));
        let visits = plan.prenatal_visits(&dates, today);
        let window = app.config.send_window;
        let fires = steps.iter().any(|s| {
            let fires_on = |d: NaiveDate| {
                s.trigger
                    .firing(d, app.config.timezone, &window)
                    .is_some_and(|f| from < f.send_at && f.send_at <= to)
            };
            match s.trigger.anchor {
                TriggerAnchor::VisitDue => visits.iter().any(|v| fires_on(v.due)),
                TriggerAnchor::VisitWindowStart => visits.iter().any(|v| fires_on(v.window_start)),
                TriggerAnchor::VisitWindowEnd => visits.iter().any(|v| fires_on(v.window_end)),
                TriggerAnchor::Lmp => fires_on(dates.lmp),
                TriggerAnchor::Delivery => false,
            }
        });
        if fires {
            hot.push(k);
        } else {
            cold.push(k);
        }
    }
    ensure!(
        !hot.is_empty() && !cold.is_empty(),
        "no LMP split for the planned day"
    );
    Ok((hot, cold))
}

/// A roster CSV of `n` invented women, every one of whom has a reminder
/// firing in `(from, to]` (local day `today` and after): for load and crash tests.
pub async fn roster_due_between(
    app: &App,
    n: usize,
    today: NaiveDate,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>> {
    roster_with_due(app, n, n, today, (from, to)).await
}

/// A roster CSV of `n` invented women, `due` of whom have a reminder
/// firing in `(from, to]` and the rest nothing then: a county's size with
/// a day's work.
pub async fn roster_with_due(
    app: &App,
    n: usize,
    due: usize,
    today: NaiveDate,
    (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
) -> Result<Vec<u8>> {
    let (hot, cold) = lmp_offsets(app, today, from, to).await?;
    let mut out = Vec::with_capacity(n * 80);
    write_synthetic_roster(&mut out, n, due, today, &hot, &cold, 11)?;
    Ok(out)
}

/// Writes a roster CSV of `n` invented women to `out`: `due` of them with
/// LMPs from `hot` (something fires on the planned day), the rest from `cold`.
pub fn write_synthetic_roster(
    mut out: impl std::io::Write,
    n: usize,
    due: usize,
    today: NaiveDate,
    hot: &[i64],
    cold: &[i64],
    seed: u64,
) -> std::io::Result<()> {
    const SURNAMES: &[&str] = &[
        "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
    ];
    const GIVEN: &[&str] = &[
        "秀英", "桂兰", "玉梅", "丽", "静", "敏", "燕", "芳", "娟", "霞", "红", "艳",
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let villages = (n / 300).max(1);
    writeln!(
        out,
        "name,phone,lmp,edd,village,officer,language,wechat_openid,consent"
    )?;
    for i in 0..n {
        let pool = if i < due { hot } else { cold };
        let lmp = today - Duration::days(pool[rng.gen_range(0..pool.len())]);
        let v = rng.gen_range(1..=villages);
        let (l, e) = if rng.gen_bool(0.6) {
            (lmp.to_string(), String::new())
        } else {
            (String::new(), (lmp + Duration::days(280)).to_string())
        };
        writeln!(
            out,
            "{}{}{},139{:08},{l},{e},V{v:04},V{v:04}-O{},{},,yes",
            SURNAMES[i % SURNAMES.len()],
            GIVEN[(i / SURNAMES.len()) % GIVEN.len()],
            i,
            i,
            rng.gen_range(1..=2),
            if rng.gen_bool(0.95) { "zh-CN" } else { "en" },
        )?;
    }
    Ok(())
}

/// Peak resident set size of this process (Linux), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
