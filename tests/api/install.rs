//! The path from the documents to a running service, as a county's IT
//! person walks it (issue 35): the unit's environment passes its own
//! check; the configuration refuses every key it does not know, in every
//! table, naming the nearest real one; a command never acts on a database
//! nobody named; a restore run as root leaves the service a file it can
//! write and names the copy it kept truthfully; `migrate-to` waits for the
//! service to stop; a file the service may not write is named with its
//! owner; the import says once per unknown officer code what it imported;
//! every error says its cause once. Each runs the real binary.
//!
//! Some need root (to give files away, to run as another user), as CI has;
//! elsewhere they say so and do nothing.

use crate::crash::{free_port, wait_ready, KillOnDrop};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary as an administrator runs it in `dir`: no configuration, no
/// database named, unless the test names them.
fn careminder(dir: &Path) -> Command {
    assert!(
        !Path::new(careminder::config::DEFAULT_FILE).exists(),
        "{} exists: these tests need a machine where careminder is not installed",
        careminder::config::DEFAULT_FILE
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careminder"));
    cmd.current_dir(dir)
        .env_remove("CAREMINDER_CONFIG")
        .env_remove("CAREMINDER_DB")
        .env_remove("CAREMINDER_DATABASE")
        .env("CAREMINDER_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out: Output = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn root() -> bool {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|u| u.split_whitespace().nth(1).unwrap().to_string())
        })
        .unwrap();
    if uid == "0" {
        return true;
    }
    assert!(std::env::var("CI").is_err(), "CI runs the tests as root");
    eprintln!("not run: it needs root, to give files to other users");
    false
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `Environment=` lines of the systemd unit, as systemd hands them to
/// both its `ExecStartPre=` and its `ExecStart=`.
fn unit_environment() -> Vec<(String, String)> {
    std::fs::read_to_string(repo("deploy/careminder.service"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn the_units_environment_and_the_packaged_configuration_pass_the_units_own_check() {
    let dir = tempfile::tempdir().unwrap();
    let env = unit_environment();
    assert!(
        env.iter()
            .any(|(k, v)| k == "CAREMINDER_LOG_JSON" && v == "1"),
        "{env:?}"
    );
    let (ok, stdout, stderr) = run(careminder(dir.path())
        .envs(env)
        .arg("check-config")
        .arg(repo("deploy/careminder.toml")));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("ok (database /var/lib/careminder/careminder.db"),
        "{stdout}"
    );
    // A boolean from the environment reads as a person writes it.
    for v in ["1", "yes", "0", "false"] {
        let (ok, _, stderr) = run(careminder(dir.path())
            .env("CAREMINDER_LOG_JSON", v)
            .args(["--db", "x.db", "staff", "list"]));
        assert!(ok, "CAREMINDER_LOG_JSON={v}: {stderr}");
    }
}

#[test]
fn check_config_names_a_misspelt_key_in_every_table_with_the_nearest_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("careminder.toml");
    std::fs::write(
        &file,
        "databse = \"/var/lib/careminder/careminder.db\"\n\
         send_windw = \"09:00-18:00\"\n\
         api_tokn = \"t\"\n\
         listen = \"localhost\"\n\
         [dispacher]\nbatch_size = 7\n\
         [planner]\nhorizon_hour = 24\n\
         [outreach]\nmax_per_wek = 2\n\
         [console]\nsesion_hours = 8\n\
         [inbound]\nforward_to_oficer = false\n\
         [jobs]\ndigest_corn = \"0 0 9 * * *\"\n\
         [home_visits]\nevery_day = 20\n\
         [routing]\nstaf = \"default\"\n\
         [keywords.en]\nopt_ot = [\"STOP\"]\n\
         [gateway]\nkind = \"android\"\nbase_url = \"http://127.0.0.1:9\"\nsigining_key = \"k\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run(careminder(dir.path()).arg("check-config").arg(&file));
    assert!(!ok, "a misspelt configuration passed: {stdout}");
    for (key, nearest) in [
        ("databse", "database"),
        ("send_windw", "send_window"),
        ("api_tokn", "api_token"),
        ("dispacher", "dispatcher"),
        ("planner.horizon_hour", "planner.horizon_hours"),
        ("outreach.max_per_wek", "outreach.max_per_week"),
        ("console.sesion_hours", "console.session_hours"),
        ("inbound.forward_to_oficer", "inbound.forward_to_officer"),
        ("jobs.digest_corn", "jobs.digest_cron"),
        ("home_visits.every_day", "home_visits.every_days"),
        ("routing.staf", "routing.staff"),
        ("keywords.en.opt_ot", "keywords.en.opt_out"),
        ("gateway.sigining_key", "gateway.signing_key"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("{key} not named:\n{stderr}"));
        assert!(line.contains(&format!("did you mean {nearest}?")), "{line}");
    }
    // Checked as start-up would bind it.
    assert!(
        stderr.contains("listen: \"localhost\" is not an address"),
        "{stderr}"
    );
    // A misspelt secret in the environment too.
    let (ok, _, stderr) = run(careminder(dir.path())
        .env("CAREMINDER_API_TOKN", "t")
        .args(["--db", "x.db", "staff", "list"]));
    assert!(!ok);
    assert!(
        stderr.contains("CAREMINDER_API_TOKN") && stderr.contains("CAREMINDER_API_TOKEN?"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.db").exists(), "nothing opened");
}

#[test]
fn with_nothing_named_no_command_opens_or_creates_a_database_and_each_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    std::fs::write(dir.path().join("roster.csv"), "name,phone,lmp\n").unwrap();
    for args in [
        vec!["backup", "backup.db"],
        vec!["restore", "roster.csv", "--yes"],
        vec!["migrate-to", "postgres://careminder@127.0.0.1:1/county"],
        vec!["staff", "list"],
        vec!["import", "roster.csv"],
        vec!["outbox"],
        vec!["tick"],
        vec!["serve"],
    ] {
        let (ok, stdout, stderr) = run(careminder(dir.path()).args(&args));
        assert!(!ok, "careminder {args:?} acted on nothing named: {stdout}");
        assert!(
            stderr.contains("no database is named")
                && stderr.contains("--db")
                && stderr.contains("CAREMINDER_DATABASE")
                && stderr.contains(careminder::config::DEFAULT_FILE),
            "careminder {args:?}: {stderr}"
        );
        assert!(!stdout.contains("backup written"), "{stdout}");
    }
    assert!(
        stderr_of(careminder(dir.path()).arg("serve")).contains("careminder demo"),
        "serve points to the demo"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["roster.csv"], "no database was created");
    assert!(!backup.exists());

    // A database named but not there is not backed up as an empty one.
    let (ok, _, stderr) = run(careminder(dir.path()).args(["--db", "gone.db", "backup", "b.db"]));
    assert!(!ok);
    assert!(stderr.contains("gone.db does not exist"), "{stderr}");
    assert!(!dir.path().join("gone.db").exists() && !dir.path().join("b.db").exists());
}

fn stderr_of(cmd: &mut Command) -> String {
    run(cmd).2
}

#[test]
fn restore_as_root_keeps_the_owner_and_mode_of_the_database_it_replaces() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("county.db");
    let db_arg = db.to_str().unwrap();
    let (ok, _, stderr) = run(careminder(dir.path()).args([
        "--db", db_arg, "staff", "add", "--code", "admin", "--name", "Admin", "--role", "admin",
    ]));
    assert!(ok, "{stderr}");
    // The service's user owns it (any uid will do: no such user is needed).
    std::os::unix::fs::chown(&db, Some(4321), Some(4321)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();

    let (ok, stdout, stderr) = run(careminder(dir.path()).args(["--db", db_arg, "backup", "b.db"]));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("county.db"), "{stdout}");
    let backup = std::fs::metadata(dir.path().join("b.db")).unwrap();
    assert_eq!(
        backup.mode() & 0o777,
        0o600,
        "a backup is its owner's alone"
    );

    for kept in ["county.db.before-restore", "county.db.before-restore.2"] {
        let (ok, stdout, stderr) =
            run(careminder(dir.path()).args(["--db", db_arg, "restore", "b.db", "--yes"]));
        assert!(ok, "{stderr}");
        let m = std::fs::metadata(&db).unwrap();
        assert_eq!((m.uid(), m.gid()), (4321, 4321), "the service's file still");
        assert_eq!(m.mode() & 0o777, 0o640);
        // The kept copy is where the message says, each restore its own.
        let kept = dir.path().join(kept);
        assert!(stdout.contains(kept.to_str().unwrap()), "{stdout}");
        assert!(kept.exists(), "{stdout}");
    }
    // With nothing there before, nothing is said to be kept.
    let fresh = dir.path().join("fresh.db");
    let (ok, stdout, stderr) = run(careminder(dir.path()).args([
        "--db",
        fresh.to_str().unwrap(),
        "restore",
        "b.db",
        "--yes",
    ]));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("no database there before"), "{stdout}");
    assert!(!stdout.contains("before-restore"), "{stdout}");
}

#[test]
fn a_database_this_user_cannot_write_is_named_with_its_owner_and_root_leaves_new_files_to_the_service(
) {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = dir.path().join("county.db");
    let (ok, _, stderr) =
        run(careminder(dir.path()).args(["--db", db.to_str().unwrap(), "staff", "list"]));
    assert!(ok, "{stderr}");
    // As the service's user (nobody here) on root's file: named, with its owner.
    let (ok, _, stderr) = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_careminder"))
        .current_dir(dir.path())
        .env_remove("CAREMINDER_CONFIG")
        .args(["--db", db.to_str().unwrap(), "staff", "list"]));
    assert!(!ok);
    assert!(
        stderr.contains(db.to_str().unwrap())
            && stderr.contains("root:root")
            && stderr.contains("chown"),
        "{stderr}"
    );

    // Root making the database in the service's directory gives it to the service.
    let service_dir = dir.path().join("service");
    std::fs::create_dir(&service_dir).unwrap();
    std::os::unix::fs::chown(&service_dir, Some(4321), Some(4321)).unwrap();
    let db = service_dir.join("county.db");
    let (ok, _, stderr) =
        run(careminder(dir.path()).args(["--db", db.to_str().unwrap(), "staff", "list"]));
    assert!(ok, "{stderr}");
    let m = std::fs::metadata(&db).unwrap();
    assert_eq!((m.uid(), m.gid()), (4321, 4321));
}

#[tokio::test]
async fn migrate_to_refuses_while_serve_has_the_sqlite_file_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("county.db");
    let port = free_port();
    let cfg = dir.path().join("careminder.toml");
    std::fs::write(
        &cfg,
        format!("database = {db:?}\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut serve = KillOnDrop(
        careminder(dir.path())
            .arg("--config")
            .arg(&cfg)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}"), &mut serve).await;

    let url = crate::postgres::fresh_pg_database("beside_serve").await;
    let out = crate::postgres::migrate_to(&db, &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "copied while serve was writing");
    assert!(
        stderr.contains(&format!("process {}", serve.id())) && stderr.contains("stop the service"),
        "{stderr}"
    );
    let pg = sqlx::PgPool::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(tables, 0, "nothing was copied");
    pg.close().await;

    // Stopped, it moves.
    assert!(Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(serve.wait().unwrap().success());
    let out = crate::postgres::migrate_to(&db, &url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_second_serve_with_another_window_refuses_to_start_and_says_which_setting_differs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("county.db");
    let config = |port: u16, window: &str| {
        let cfg = dir.path().join(format!("{port}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "database = {db:?}\nlisten = \"127.0.0.1:{port}\"\nsend_window = \"{window}\"\n"
            ),
        )
        .unwrap();
        cfg
    };
    let port = free_port();
    let mut first = KillOnDrop(
        careminder(dir.path())
            .arg("--config")
            .arg(config(port, "08:00-20:00"))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}"), &mut first).await;
    let (ok, _, stderr) = run(careminder(dir.path())
        .arg("--config")
        .arg(config(free_port(), "06:00-23:00"))
        .arg("serve"));
    assert!(!ok, "a second instance with another window started");
    assert!(
        stderr.contains("send_window is \"08:00-20:00\" there and \"06:00-23:00\" here"),
        "{stderr}"
    );
    // The same settings join.
    let port2 = free_port();
    let mut second = KillOnDrop(
        careminder(dir.path())
            .arg("--config")
            .arg(config(port2, "08:00-20:00"))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(&client, &format!("http://127.0.0.1:{port2}"), &mut second).await;
    for p in [&mut first, &mut second] {
        let _ = Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status();
        assert!(p.wait().unwrap().success());
    }
    // Once they stopped, the county may change its window.
    let port3 = free_port();
    let mut third = KillOnDrop(
        careminder(dir.path())
            .arg("--config")
            .arg(config(port3, "06:00-23:00"))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(&client, &format!("http://127.0.0.1:{port3}"), &mut third).await;
}

#[tokio::test]
async fn the_import_names_refused_rows_first_then_one_line_per_unknown_officer() {
    let t = crate::helpers::spawn_app().await;
    crate::helpers::staff(&t, "V001-O1", "13900000001", "officer", Some("V001"), "T1").await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("roster.csv");
    std::fs::write(&csv, crate::import::roster(300, 3, false, "2026-12-01")).unwrap();
    let (ok, stdout, stderr) = run(careminder(dir.path())
        .args([
            "--db",
            &crate::helpers::db_arg(&t),
            "--now",
            "2026-12-01 10:00",
            "import",
        ])
        .arg(&csv));
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let refused = lines
        .iter()
        .take_while(|l| l.contains(": refused: "))
        .count();
    assert_eq!(refused, 3, "{stdout}");
    let officers: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("not on the staff list"))
        .collect();
    assert_eq!(officers.len(), 1, "one line for V001-O2: {stdout}");
    assert!(
        officers[0].starts_with("officer V001-O2 is not on the staff list: ")
            && officers[0].contains(" rows imported (lines "),
        "{stdout}"
    );
}

#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "listen = \n").unwrap();
    let (ok, _, stderr) =
        run(careminder(dir.path()).args(["--config", "bad.toml", "--db", "x.db", "staff", "list"]));
    assert!(!ok);
    assert_eq!(stderr.matches("line 1, column").count(), 1, "{stderr}");
    assert!(!stderr.contains("Caused by"), "{stderr}");
}
