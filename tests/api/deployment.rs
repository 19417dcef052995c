//! The server guide, run. Every shell command in docs/deployment.md's
//! ```sh blocks is run in order, as root, on this machine, against the
//! Debian package scripts/test.sh built from this run's binary
//! (`CAREMINDER_TEST_DEB`): install, configure, start, back up, restore,
//! upgrade, move to PostgreSQL, back up and restore there, remove. So the
//! guide cannot drift from the package and the binary.
//!
//! systemd does not run in a test container, so `systemctl` is played
//! from the installed unit file itself: its `ExecStartPre=` and
//! `ExecStart=` command lines, as its `User=` and `Group=`, with its
//! `Environment=`, `EnvironmentFile=`, `WorkingDirectory=` and `UMask=`;
//! `journalctl` shows what that service wrote on standard error. Commands
//! that cannot run here are listed in [`SKIPPED`] with the reason. Between
//! commands the test checks what the guide promises: the package's files,
//! user and modes; the service running as `careminder` with the installed
//! configuration; each backup against the live database; each restore
//! bringing back exactly what was backed up, the file still the
//! service's; the nightly job of the installed cron file on each backend;
//! a purge that leaves only the county's data.
//!
//! The full run installs a package system-wide, so it is `#[ignore]`d in
//! the ordinary suite; scripts/test.sh runs it (as root, after the rest).
//! The first test here, which runs everywhere, checks that every command
//! of the guide is either run or skipped with a reason.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const GUIDE: &str = include_str!("../../docs/deployment.md");

/// Commands the test machine cannot run, and why.
const SKIPPED: &[(&str, &str)] = &[
    (
        "cargo install cargo-deb",
        "scripts/test.sh installs cargo-deb itself",
    ),
    (
        "cargo deb",
        "scripts/test.sh built the package already, from this run's binary (a release build would take most of CI's time)",
    ),
];

/// What the test does for one command of the guide.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Run,
    /// systemd's part, played from the installed unit.
    Start,
    Stop,
    Journal,
    Skip(&'static str),
}

fn plan(command: &str) -> Plan {
    if let Some((_, why)) = SKIPPED.iter().find(|(p, _)| command.starts_with(p)) {
        return Plan::Skip(why);
    }
    match command.trim() {
        "sudo systemctl enable --now careminder" | "sudo systemctl start careminder" => Plan::Start,
        "sudo systemctl stop careminder" => Plan::Stop,
        c if c.starts_with("sudo journalctl -u careminder") => Plan::Journal,
        _ => Plan::Run,
    }
}

/// The text of each fenced block whose info string is `lang`.
fn blocks<'a>(guide: &'a str, lang: &str) -> Vec<Vec<&'a str>> {
    let mut out = vec![];
    // The block open, if one is: whether it is wanted, and its lines.
    let mut open: Option<(bool, Vec<&str>)> = None;
    for line in guide.lines() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            match open.take() {
                Some((true, b)) => out.push(b),
                Some((false, _)) => {}
                None => open = Some((info.trim() == lang, vec![])),
            }
            continue;
        }
        if let Some((_, b)) = open.as_mut() {
            b.push(line);
        }
    }
    out
}

/// The guide's shell commands, in order: one per line of a ```sh block,
/// lines ending in `\` joined to the next.
fn commands(guide: &str) -> Vec<String> {
    let mut out = vec![];
    for block in blocks(guide, "sh") {
        let mut pending = String::new();
        for line in block {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            match line.trim_end().strip_suffix('\\') {
                Some(head) => {
                    pending.push_str(head.trim());
                    pending.push(' ');
                }
                None => {
                    pending.push_str(line.trim());
                    out.push(std::mem::take(&mut pending));
                }
            }
        }
    }
    out
}

#[test]
fn every_shell_command_in_the_guide_is_run_by_the_package_test_or_skipped_with_a_reason() {
    let commands = commands(GUIDE);
    assert!(commands.len() > 20, "{commands:#?}");
    for c in &commands {
        // systemd's commands are played only in the forms above; another
        // form would be run as it is and fail on a machine without systemd.
        if c.contains("systemctl") || c.contains("journalctl") {
            assert_ne!(plan(c), Plan::Run, "{c}: not a form the test plays");
        }
        assert!(!c.contains("sudoedit"), "{c}: an editor cannot be run");
    }
    for (prefix, _) in SKIPPED {
        assert!(
            commands.iter().any(|c| c.starts_with(prefix)),
            "{prefix} is no longer in the guide: drop it from SKIPPED"
        );
    }
    // The proxy keeps the operators' pages to local addresses.
    let nginx = blocks(GUIDE, "nginx").concat().join("\n");
    let local = nginx
        .split("location ")
        .find(|l| l.starts_with("~ ^/(metrics|status)$"))
        .expect("a location for /metrics and /status");
    assert!(
        local.contains("allow 127.0.0.1;") && local.contains("deny all;"),
        "{local}"
    );
    // The cron line the guide shows is the one the package installs.
    let cron = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/careminder.cron"),
    )
    .unwrap();
    for line in blocks(GUIDE, "crontab").concat() {
        assert!(
            cron.lines().any(|l| l == line),
            "{line} is not in deploy/careminder.cron"
        );
    }
}

fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn must(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", out_text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn id_of(flag: &str, user: &str) -> u32 {
    must(Command::new("id").args([flag, user]))
        .trim()
        .parse()
        .unwrap()
}

fn meta(path: &str) -> std::fs::Metadata {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Owner, group and mode of a path.
fn owned(path: &str) -> (u32, u32, u32) {
    let m = meta(path);
    (m.uid(), m.gid(), m.permissions().mode() & 0o7777)
}

/// The installed unit, as systemd reads the settings the test plays.
#[derive(Debug, Default)]
struct Unit {
    user: String,
    group: String,
    workdir: String,
    umask: String,
    env: Vec<(String, String)>,
    env_files: Vec<String>,
    pre: Vec<Vec<String>>,
    start: Vec<String>,
}

const UNIT: &str = "/usr/lib/systemd/system/careminder.service";

fn read_unit() -> Unit {
    let mut u = Unit {
        umask: "0022".into(),
        ..Unit::default()
    };
    for line in std::fs::read_to_string(UNIT).unwrap().lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let argv = || v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        match k {
            "User" => u.user = v.into(),
            "Group" => u.group = v.into(),
            "WorkingDirectory" => u.workdir = v.into(),
            "UMask" => u.umask = v.into(),
            "Environment" => {
                let (k, v) = v.split_once('=').unwrap();
                u.env.push((k.into(), v.into()));
            }
            "EnvironmentFile" => u.env_files.push(v.into()),
            "ExecStartPre" => u.pre.push(argv()),
            "ExecStart" => u.start = argv(),
            _ => {}
        }
    }
    assert!(!u.user.is_empty() && !u.start.is_empty(), "{u:?}");
    u
}

impl Unit {
    /// A command line of the unit, as systemd starts it.
    fn command(&self, argv: &[String]) -> Command {
        let mut env: Vec<(String, String)> = vec![(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        )];
        env.extend(self.env.iter().cloned());
        for f in &self.env_files {
            let (optional, path) = match f.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, f.as_str()),
            };
            match careminder::config::read_env_file(Path::new(path)) {
                Ok(lines) => env.extend(lines.into_iter().filter_map(|(_, kv)| kv.ok())),
                Err(e) => assert!(optional, "{path}: {e}"),
            }
        }
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.user))
            .arg(format!("--regid={}", self.group))
            .args(["--init-groups", "--", "sh", "-c"])
            .arg(format!("umask {} && exec \"$@\"", self.umask))
            .arg("unit")
            .args(argv)
            .env_clear()
            .envs(env)
            .current_dir(&self.workdir)
            .stdin(Stdio::null());
        cmd
    }
}

/// The service as systemd would run it.
struct Service {
    child: Option<Child>,
    /// What it wrote on standard error: the journal here.
    log: PathBuf,
    starts: usize,
}

impl Service {
    async fn start(&mut self) -> String {
        assert!(self.child.is_none(), "started twice");
        let unit = read_unit();
        let mut said = String::new();
        for pre in &unit.pre {
            let o = unit.command(pre).output().unwrap();
            said.push_str(&out_text(&o));
            assert!(
                o.status.success(),
                "ExecStartPre {pre:?} failed: {}",
                out_text(&o)
            );
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = unit
            .command(&unit.start)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.starts += 1;
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get("http://127.0.0.1:8080/readyz").send().await {
                if r.status().is_success() {
                    let body = r.text().await.unwrap();
                    said.push_str(&body);
                    return said;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "the service exited ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the service is not ready after a minute");
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        // TimeoutStopSec=30.
        for _ in 0..300 {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "stopped with {status}");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        panic!("the service did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Puts the machine back as it was, whatever happened: the service
/// stopped, the package purged, the county's data, the user and the
/// PostgreSQL role and database removed.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "careminder"])
            .output();
        for p in [
            "/var/lib/careminder",
            "/var/backups/careminder",
            "/etc/careminder",
            "/var/lib/postgresql/careminder.dump",
        ] {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
        let _ = Command::new("userdel").arg("careminder").output();
        let _ = Command::new("groupdel").arg("careminder").output();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", "psql", "-qc"])
            .arg("DROP DATABASE IF EXISTS careminder WITH (FORCE)")
            .output();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", "psql", "-qc"])
            .arg("DROP ROLE IF EXISTS careminder")
            .output();
    }
}

/// The installed program, as `sudo careminder ...` runs it.
fn admin() -> Command {
    let mut cmd = Command::new("/usr/bin/careminder");
    cmd.env_remove("CAREMINDER_CONFIG")
        .env_remove("CAREMINDER_DB")
        .env_remove("CAREMINDER_DATABASE")
        .stdin(Stdio::null());
    cmd
}

/// Staff codes in the live database, as `sudo careminder staff list` shows them.
fn live_staff() -> BTreeSet<String> {
    must(admin().args(["staff", "list"]))
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The PostgreSQL URL the secrets' file names, if it names one.
fn configured_postgres() -> Option<String> {
    careminder::config::read_env_file(Path::new("/etc/careminder/secrets.env"))
        .ok()?
        .into_iter()
        .filter_map(|(_, kv)| kv.ok())
        .find(|(k, _)| k == "CAREMINDER_DATABASE")
        .map(|(_, v)| v)
}

/// Staff codes in a backup: a SQLite file, or a pg_dump archive.
async fn staff_in_backup(path: &str) -> BTreeSet<String> {
    let head = std::fs::read(path).unwrap();
    if head.starts_with(b"SQLite format 3\0") {
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .read_only(true),
        )
        .await
        .unwrap();
        let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM staff")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        return codes.into_iter().collect();
    }
    assert!(
        head.starts_with(b"PGDMP"),
        "{path}: neither SQLite nor pg_dump's"
    );
    // The archive's staff rows as COPY text: pg_restore reads the file alone.
    let text =
        must(Command::new("pg_restore").args(["--data-only", "--table=staff", "--file=-", path]));
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("COPY public.staff "));
    let header = lines.next().expect("the staff table's data");
    let columns: Vec<&str> = header
        .split_once('(')
        .unwrap()
        .1
        .split_once(')')
        .unwrap()
        .0
        .split(", ")
        .collect();
    let code = columns.iter().position(|c| *c == "code").unwrap();
    lines
        .take_while(|l| *l != "\\.")
        .map(|l| l.split('\t').nth(code).unwrap().to_string())
        .collect()
}

/// What the guide promises after one of its commands, checked.
struct Checks {
    /// Each backup's staff, as the live database had them when it was taken.
    backups: Vec<(String, BTreeSet<String>)>,
    changes: usize,
}

impl Checks {
    fn installed(&self) {
        let (uid, gid) = (id_of("-u", "careminder"), id_of("-g", "careminder"));
        let passwd = must(Command::new("getent").args(["passwd", "careminder"]));
        assert!(
            passwd.contains(":/var/lib/careminder:/usr/sbin/nologin"),
            "{passwd}"
        );
        assert_eq!(owned("/var/lib/careminder"), (uid, gid, 0o750));
        assert_eq!(owned("/var/backups/careminder"), (0, 0, 0o700));
        assert_eq!(owned("/etc/careminder/secrets.env"), (0, 0, 0o600));
        assert_eq!(owned("/etc/careminder/careminder.toml"), (0, gid, 0o640));
        for f in ["/usr/bin/careminder", UNIT, "/etc/cron.d/careminder"] {
            assert!(Path::new(f).exists(), "{f} is not installed");
        }
        let unit = read_unit();
        assert_eq!(unit.start, ["/usr/bin/careminder", "serve"]);
    }

    /// The service runs as careminder with the installed configuration,
    /// on the database it names.
    fn serving(&self, service: &Service, ready: &str) {
        let pid = service.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = id_of("-u", "careminder").to_string();
        let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(uids.split_whitespace().skip(1).all(|u| u == uid), "{uids}");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            environ.contains("CAREMINDER_CONFIG=/etc/careminder/careminder.toml"),
            "{environ}"
        );
        let backend = if configured_postgres().is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        assert!(ready.contains(&format!("\"{backend}\"")), "{ready}");
        if backend == "sqlite" {
            let db = "/var/lib/careminder/careminder.db";
            let gid = id_of("-g", "careminder");
            let (o, g, mode) = owned(db);
            assert_eq!((o, g), (id_of("-u", "careminder"), gid), "{db}");
            assert_eq!(mode & 0o007, 0, "{db} is readable by others: {mode:o}");
        }
    }

    /// A backup holds what the live database holds; then the county
    /// changes something, which a restore of it must take back.
    async fn backed_up(&mut self, path: &str) {
        let live = live_staff();
        assert!(live.contains("admin"), "{live:?}");
        assert_eq!(
            staff_in_backup(path).await,
            live,
            "{path} against the live database"
        );
        assert_eq!(owned(path).2, 0o600, "{path} is its owner's alone");
        self.backups.push((path.to_string(), live));
        self.changes += 1;
        must(admin().args([
            "staff",
            "add",
            "--code",
            &format!("after-backup-{}", self.changes),
            "--name",
            "A change after the backup",
        ]));
        assert!(live_staff().contains(&format!("after-backup-{}", self.changes)));
    }

    fn restored(&self, path: &str) {
        let (_, before) = self
            .backups
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} was not backed up by the guide"));
        assert_eq!(
            &live_staff(),
            before,
            "the live database after restoring {path}"
        );
        if configured_postgres().is_none() {
            let db = "/var/lib/careminder/careminder.db";
            let (o, g, _) = owned(db);
            assert_eq!(
                (o, g),
                (id_of("-u", "careminder"), id_of("-g", "careminder")),
                "the restored file is still the service's"
            );
            assert!(Path::new("/var/lib/careminder/careminder.db.before-restore").exists());
        }
    }

    /// The package's nightly job, run as cron runs it.
    async fn nightly_job(&mut self) {
        let cron = std::fs::read_to_string("/etc/cron.d/careminder").unwrap();
        let mut ran = 0;
        for line in cron.lines() {
            let line = line.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.split_whitespace().next().unwrap().contains('=')
            {
                continue;
            }
            let fields: Vec<&str> = line.splitn(7, ' ').collect();
            let (user, command) = (fields[5], fields[6].replace("\\%", "%"));
            let o = Command::new("runuser")
                .args(["-u", user, "--", "/bin/sh", "-c", &command])
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .output()
                .unwrap();
            assert!(o.status.success(), "{command}: {}", out_text(&o));
            ran += 1;
        }
        assert_eq!(ran, 1, "{cron}");
        let today = chrono::Local::now().format("%F");
        let made = format!("/var/backups/careminder/careminder-{today}.backup");
        self.backed_up(&made).await;
        // The next night's, on the other backend, is a file of its own.
        std::fs::remove_file(&made).unwrap();
    }

    fn purged(&self) {
        assert!(
            !ok(Command::new("dpkg").args(["-s", "careminder"])),
            "still known to dpkg"
        );
        for gone in [
            "/usr/bin/careminder",
            UNIT,
            "/etc/cron.d/careminder",
            "/etc/careminder",
        ] {
            assert!(!Path::new(gone).exists(), "{gone} left behind");
        }
        // The county's data stays, and nothing else.
        for (dir, keep) in [
            ("/var/lib/careminder", "careminder.db"),
            ("/var/backups/careminder", ""),
        ] {
            for e in std::fs::read_dir(dir).unwrap() {
                let name = e.unwrap().file_name().into_string().unwrap();
                assert!(
                    name.starts_with(keep) && (dir.contains("lib") || name.ends_with(".backup")),
                    "{dir}/{name} left behind"
                );
            }
        }
        assert!(ok(Command::new("getent").args(["passwd", "careminder"])));
        assert!(
            !ok(Command::new("pgrep").args(["-u", "careminder"])),
            "a careminder process still runs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "installs the Debian package on this machine: scripts/test.sh runs it as root, with CAREMINDER_TEST_DEB"]
async fn the_guide_installs_serves_backs_up_restores_moves_to_postgresql_and_removes_the_package() {
    let deb = PathBuf::from(
        std::env::var("CAREMINDER_TEST_DEB")
            .expect("CAREMINDER_TEST_DEB: the package to install (scripts/test.sh builds it)"),
    );
    let deb_name = deb.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        deb_name.starts_with("careminder_") && deb_name.ends_with(".deb"),
        "{deb_name}"
    );
    assert!(
        !ok(Command::new("dpkg").args(["-s", "careminder"]))
            && !Path::new("/var/lib/careminder").exists()
            && !ok(Command::new("getent").args(["passwd", "careminder"])),
        "careminder is installed on this machine (or its data or user is left over): \
         this test installs and purges the package, on a test machine only"
    );
    assert!(
        std::net::TcpListener::bind("127.0.0.1:8080").is_ok(),
        "port 8080, the packaged configuration's, is taken"
    );
    let _cleanup = Cleanup;

    // The administrator's shell: the package in the current directory,
    // `sudo` (a stand-in where the machine has none: the test is root).
    let home = tempfile::tempdir().unwrap();
    std::fs::copy(&deb, home.path().join(&deb_name)).unwrap();
    let shims = home.path().join("bin");
    std::fs::create_dir(&shims).unwrap();
    std::fs::write(
        shims.join("sudo"),
        "#!/bin/sh\n# sudo on a test machine that runs as root and may have none.\n\
         user=\nwhile [ $# -gt 0 ]; do case \"$1\" in\n\
           -u) user=$2; shift 2;;\n  --) shift; break;;\n  -*) shift;;\n  *) break;;\n\
         esac; done\n\
         if [ -n \"$user\" ]; then exec runuser -u \"$user\" -- \"$@\"; else exec \"$@\"; fi\n",
    )
    .unwrap();
    std::fs::set_permissions(shims.join("sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", shims.display(), std::env::var("PATH").unwrap());

    let mut service = Service {
        child: None,
        log: home.path().join("journal.log"),
        starts: 0,
    };
    let mut checks = Checks {
        backups: vec![],
        changes: 0,
    };
    let mut report = vec![];
    let mut installs = 0;
    let mut nightly = BTreeSet::new();
    for command in commands(GUIDE) {
        let what = plan(&command);
        match &what {
            Plan::Skip(why) => {
                report.push(format!("skipped  {command}\n         ({why})"));
                continue;
            }
            Plan::Start => {
                let ready = service.start().await;
                checks.serving(&service, &ready);
                report.push(format!(
                    "played   {command}\n         (the unit's ExecStartPre and ExecStart, as its User= with its environment)"
                ));
                continue;
            }
            Plan::Stop => {
                service.stop();
                report.push(format!(
                    "played   {command}\n         (SIGTERM, as the unit's KillSignal=)"
                ));
                continue;
            }
            Plan::Journal => {
                let log = std::fs::read_to_string(&service.log).unwrap();
                let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
                assert!(!lines.is_empty(), "nothing logged");
                for l in &lines {
                    let v: serde_json::Value = serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                    assert!(v.get("level").is_some(), "{l}");
                }
                assert!(log.contains("careminder serving"), "{log}");
                report.push(format!("played   {command}\n         (what the service wrote on standard error: {} JSON lines)", lines.len()));
                continue;
            }
            Plan::Run => {}
        }
        // The package's nightly job, once on each backend, with the
        // service running, before the guide's first backup there.
        if command.starts_with("sudo careminder backup") && service.child.is_some() {
            let backend = if configured_postgres().is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            };
            if nightly.insert(backend) {
                checks.nightly_job().await;
                report.push(format!(
                    "ran      the nightly job of /etc/cron.d/careminder, on {backend}"
                ));
            }
        }
        // Removing the package stops the service first (its prerm, under systemd).
        if command.contains("dpkg --purge") || command.contains("dpkg --remove") {
            service.stop();
        }
        let o = Command::new("bash")
            .args(["-o", "pipefail", "-ec", &command])
            .current_dir(home.path())
            .env("PATH", &path)
            .env_remove("CAREMINDER_CONFIG")
            .env_remove("CAREMINDER_DB")
            .env_remove("CAREMINDER_DATABASE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "the guide's command failed: {command}\n{}\n{}",
            out_text(&o),
            std::fs::read_to_string(&service.log).unwrap_or_default()
        );
        report.push(format!("ran      {command}"));

        // What the guide promised of it.
        let words: Vec<&str> = command.split_whitespace().collect();
        let arg_after = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| words.get(i + 1))
                .map(|s| s.to_string())
        };
        if command.contains("dpkg -i") {
            installs += 1;
            checks.installed();
            let secrets = std::fs::read_to_string("/etc/careminder/secrets.env").unwrap();
            assert_eq!(
                secrets
                    .lines()
                    .any(|l| l.starts_with("CAREMINDER_API_TOKEN=")),
                installs > 1,
                "an upgrade keeps the secrets"
            );
            // dpkg restarts a running service (try-restart, under systemd).
            if service.child.is_some() {
                service.stop();
                let ready = service.start().await;
                checks.serving(&service, &ready);
            }
        } else if words.starts_with(&["sudo", "careminder", "backup"]) {
            checks.backed_up(&arg_after("backup").unwrap()).await;
        } else if words.starts_with(&["sudo", "careminder", "restore"]) {
            checks.restored(&arg_after("restore").unwrap());
        } else if words.starts_with(&["sudo", "careminder", "migrate-to"]) {
            let (_, sqlite) = checks
                .backups
                .iter()
                .rev()
                .find(|(p, _)| p.ends_with("before-move.backup"))
                .expect("the guide backs up before the move");
            let mut expected = sqlite.clone();
            // The change made after that backup moved too.
            expected.insert(format!("after-backup-{}", checks.changes));
            assert_eq!(live_staff(), expected, "PostgreSQL after the move");
        } else if command.contains("pg_dump") {
            let dump = command
                .split("--file=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .expect("pg_dump --file=")
                .to_string();
            checks.backed_up(&dump).await;
        } else if command.contains("pg_restore") {
            let dump = words.last().unwrap().to_string();
            checks.restored(&dump);
        } else if command.contains("dpkg --purge") {
            checks.purged();
        }
    }
    assert_eq!(installs, 2, "installed, then upgraded");
    assert_eq!(nightly.len(), 2, "the nightly job on both backends");
    assert!(service.starts >= 4, "{}", service.starts);
    println!(
        "docs/deployment.md, command by command:\n{}",
        report.join("\n")
    );
}
