//! Where the configuration comes from, and every mistake in it at once.
//!
//! Built-in defaults, then the TOML file, then the secrets' file
//! (`KEY=VALUE` lines, as systemd's `EnvironmentFile=` reads them), then
//! the process's `CAREMINDER_*` variables. Before anything is read into
//! [`Config`], every key is checked against the settings there are (in
//! every table; a gateway's by its kind): one that is no setting is an
//! error naming it and the nearest real one ("did you mean send_window?"),
//! never silently ignored. Then each value is read (a boolean from a
//! variable may be `1`/`0`, `yes`/`no` or `true`/`false`), each one that
//! cannot be is named, and the rules of [`Config::problems`] run. Nothing
//! stops at the first mistake: a county's IT person fixes them all in one
//! go.

use super::{Config, ConfigError, DatabaseUrl};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::{Figment, Profile, Provider};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The configuration file read when none is named (`--config`,
/// `CAREMINDER_CONFIG`) and it exists: where the Debian package installs it.
pub const DEFAULT_FILE: &str = "/etc/careminder/careminder.toml";

/// The secrets' file, in the configuration file's directory.
pub const SECRETS_FILE_NAME: &str = "secrets.env";

/// `CAREMINDER_*` variables that are no setting: the command line's own
/// (`CAREMINDER_DB` is `database` under another name) and the test
/// harness's, which every process a test starts inherits.
fn not_a_setting(name: &str) -> bool {
    matches!(
        name,
        "CAREMINDER_CONFIG"
            | "CAREMINDER_LOG"
            | "CAREMINDER_LOG_JSON"
            | "CAREMINDER_SCREENSHOTS"
            | "CAREMINDER_CARD_OUT"
    ) || name.starts_with("CAREMINDER_TEST_")
}

/// One mistake in the configuration, with its key as it was written:
/// `dispatcher.batch_size` in the file, `CAREMINDER_API_TOKEN` in the
/// environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl Problem {
    pub fn new(key: &str, reason: String) -> Self {
        Self {
            key: key.to_string(),
            reason,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// The message of [`ConfigError::Problems`]: one line per mistake.
pub(super) fn describe(place: &str, problems: &[Problem]) -> String {
    let n = problems.len();
    let mut s = format!(
        "configuration ({place}): {n} error{}",
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        s.push_str("\n  ");
        s.push_str(&p.to_string());
    }
    s
}

/// The nearest of `candidates` to `key`, when it is near enough to be a
/// slip of the keyboard (a letter or two, in any case).
pub fn did_you_mean<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let key = key.to_lowercase();
    let allowed = match key.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&key, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// One line of a `KEY=VALUE` file: its number, and its key and value, or
/// why it is none.
pub type EnvLine = (usize, Result<(String, String), String>);

/// `KEY=VALUE` lines as systemd's `EnvironmentFile=` reads them: blank
/// lines and those starting with `#` or `;` are skipped, a value may be
/// quoted. Each with its line number; a line that is no assignment is an
/// error naming it.
pub fn read_env_file(path: &Path) -> std::io::Result<Vec<EnvLine>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                return None;
            }
            let parsed = match line.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() && !k.trim().contains(' ') => {
                    Ok((k.trim().to_string(), unquote(v.trim())))
                }
                _ => Err(format!("{line:?} is not KEY=VALUE")),
            };
            Some((i + 1, parsed))
        })
        .collect())
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            let inner = &v[1..v.len() - 1];
            return if q == '"' {
                inner.replace("\\\"", "\"").replace("\\\\", "\\")
            } else {
                inner.to_string()
            };
        }
    }
    v.to_string()
}

/// One `CAREMINDER_*` variable, and where it was set.
#[derive(Debug, Clone)]
struct Var {
    name: String,
    value: String,
    /// `the environment`, or `/etc/careminder/secrets.env line 3`.
    place: String,
}

impl Var {
    /// Its key: `CAREMINDER_DISPATCHER__BATCH_SIZE` is `dispatcher.batch_size`.
    fn path(&self) -> Vec<String> {
        if self.name == "CAREMINDER_DB" {
            return vec!["database".into()];
        }
        self.name["CAREMINDER_".len()..]
            .to_lowercase()
            .split("__")
            .map(str::to_string)
            .collect()
    }

    /// Its name with segment `i` of its key replaced by `with`.
    fn renamed(&self, i: usize, with: &str) -> String {
        let mut path = self.path();
        path[i] = with.to_string();
        format!("CAREMINDER_{}", path.join("__").to_uppercase())
    }
}

/// What a configuration is read from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML file.
    pub file: Option<PathBuf>,
    /// The secrets' file (`KEY=VALUE`), read after the file.
    pub secrets: Option<PathBuf>,
    /// The process's `CAREMINDER_*` variables, read last.
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// `file` and `secrets` (each if given), and this process's environment.
    pub fn new(file: Option<PathBuf>, secrets: Option<PathBuf>) -> Self {
        Self {
            file,
            secrets,
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("CAREMINDER_"))
                .collect(),
        }
    }

    /// What was read, for messages.
    pub fn place(&self) -> String {
        let mut parts = vec![];
        if let Some(f) = &self.file {
            parts.push(f.display().to_string());
        }
        if let Some(s) = &self.secrets {
            parts.push(s.display().to_string());
        }
        if parts.is_empty() {
            "no file".into()
        } else {
            parts.join(" and ")
        }
    }

    /// The configuration, or every mistake in it.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let (config, problems) = self.check();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Problems {
                place: self.place(),
                problems,
            })
        }
    }

    /// The configuration as far as it could be read (a value that could
    /// not be read keeps its default), and every mistake found.
    pub fn check(&self) -> (Config, Vec<Problem>) {
        let mut problems = vec![];
        let mut file = match &self.file {
            Some(f) => read_toml(f).unwrap_or_else(|reason| {
                problems.push(Problem::new(&f.display().to_string(), reason));
                Dict::new()
            }),
            None => Dict::new(),
        };
        let vars = self.vars(&mut problems);
        let kinds = gateway_kinds(&file, &vars);
        let schema = config_schema();

        // Keys: every table of the file, every variable.
        walk(&mut file, &mut vec![], &schema, &kinds, &mut problems);
        let mut env = Dict::new();
        let mut env_names = BTreeMap::new();
        for var in &vars {
            let path = var.path();
            match leaf_schema(&path, &schema, &kinds) {
                Ok(leaf) => {
                    insert_path(&mut env, &path, typed(&var.value, leaf.as_ref()));
                    env_names.insert(path, var);
                }
                Err((i, known)) => {
                    let hint = did_you_mean(&path[i], known.iter().map(String::as_str))
                        .map(|s| format!("; did you mean {}?", var.renamed(i, &s)))
                        .unwrap_or_default();
                    problems.push(Problem::new(
                        &var.name,
                        format!("(set in {}) is not a setting{hint}", var.place),
                    ));
                }
            }
        }

        // Values: read the whole; each value that cannot be read is named,
        // dropped (it keeps its default) and the rest read again.
        let defaults = defaults_json();
        let mut config = Config::default();
        for _ in 0..100 {
            let figment = Figment::from(Serialized::defaults(&defaults))
                .merge(Serialized::defaults(&file))
                .merge(Serialized::defaults(&env));
            match figment.extract::<Config>() {
                Ok(c) => {
                    config = c;
                    break;
                }
                Err(e) => {
                    let path = e.path.clone();
                    let reason = e.kind.to_string();
                    // The variable set exactly there, else the file's key,
                    // else a variable inside the table that failed.
                    let var_at = if env_names.contains_key(&path) {
                        Some(path.clone())
                    } else if get_path(&file, &path).is_some() {
                        None
                    } else {
                        env_names.keys().find(|p| p.starts_with(&path)).cloned()
                    };
                    let (key, removed) = match var_at {
                        Some(p) if !path.is_empty() => {
                            let var = env_names.remove(&p).expect("found above");
                            (
                                format!("{} (set in {})", var.name, var.place),
                                remove_path(&mut env, &p),
                            )
                        }
                        _ => (path.join("."), remove_path(&mut file, &path)),
                    };
                    problems.push(Problem::new(
                        if key.is_empty() {
                            "configuration"
                        } else {
                            &key
                        },
                        reason,
                    ));
                    if !removed {
                        break;
                    }
                }
            }
        }

        // Who named the database.
        if let Some(var) = env_names.get(&vec!["database".to_string()]) {
            config.database_from = Some(format!("{} (set in {})", var.name, var.place));
        } else if file.contains_key("database") {
            let f = self.file.as_deref().unwrap_or(Path::new("?"));
            config.database_from = Some(format!("the configuration file {}", f.display()));
            if let DatabaseUrl::Sqlite(p) = &config.database {
                if p.is_relative() {
                    problems.push(Problem::new(
                        "database",
                        format!(
                            "{:?} is a relative path, which every command would read from \
                             the directory it runs in: give the whole path, e.g. \
                             \"/var/lib/careminder/careminder.db\"",
                            p.display().to_string()
                        ),
                    ));
                }
            }
        }
        problems.extend(config.problems());
        (config, problems)
    }

    /// The secrets' file's variables, then the environment's (which win).
    fn vars(&self, problems: &mut Vec<Problem>) -> Vec<Var> {
        let mut vars: Vec<Var> = vec![];
        if let Some(path) = &self.secrets {
            match read_env_file(path) {
                Ok(lines) => {
                    for (line, parsed) in lines {
                        let place = format!("{} line {line}", path.display());
                        match parsed {
                            Ok((name, value)) if name.starts_with("CAREMINDER_") => {
                                vars.push(Var { name, value, place })
                            }
                            // Others (PGPASSWORD, say) are the service's
                            // environment, not careminder's settings.
                            Ok(_) => {}
                            Err(reason) => problems.push(Problem::new(&place, reason)),
                        }
                    }
                }
                Err(e) => problems.push(Problem::new(
                    &path.display().to_string(),
                    format!("cannot be read: {e}"),
                )),
            }
        }
        for (name, value) in &self.env {
            if name.starts_with("CAREMINDER_") {
                vars.retain(|v| &v.name != name);
                vars.push(Var {
                    name: name.clone(),
                    value: value.clone(),
                    place: "the environment".into(),
                });
            }
        }
        vars.retain(|v| !not_a_setting(&v.name));
        vars
    }
}

fn read_toml(path: &Path) -> Result<Dict, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut data = Toml::string(&text).data().map_err(|e| e.to_string())?;
    Ok(data.remove(&Profile::Default).unwrap_or_default())
}

/// The defaults the file and the variables are laid over. A gateway's
/// settings are its own kind's alone: the default kind's must not be
/// merged into a gateway of another kind.
fn defaults_json() -> Json {
    let mut defaults = serde_json::to_value(Config::default()).expect("the defaults serialize");
    if let Some(g) = defaults.get_mut("gateway").and_then(|g| g.as_object_mut()) {
        g.retain(|k, _| k == "kind" || crate::gateway::settings::LIMIT_KEYS.contains(&k.as_str()));
    }
    defaults
}

/// Every setting there is, each with its default: the shape keys are
/// checked against.
fn config_schema() -> Json {
    serde_json::to_value(Config::default()).expect("the defaults serialize")
}

/// A gateway of `kind`: its kind, its limits, its kind's settings, and
/// (the older form) those settings in a table named after the kind.
fn gateway_schema(kind: &str) -> Result<Json, String> {
    use crate::domain::GatewayKind;
    let parsed: GatewayKind = kind
        .parse()
        .map_err(|e: crate::domain::kinds::UnknownValue| {
            let hint = did_you_mean(kind, GatewayKind::ALL.iter().map(|k| k.as_str()))
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            format!("{e}{hint}")
        })?;
    let settings: super::ChannelSettings =
        serde_json::from_value(serde_json::json!({ "kind": parsed.as_str() }))
            .expect("every kind's settings have defaults");
    let mut schema =
        serde_json::to_value(super::GatewayConfig::new(settings)).expect("the defaults serialize");
    let obj = schema.as_object_mut().expect("a table");
    let mut own = obj.clone();
    own.retain(|k, _| k != "kind" && !crate::gateway::settings::LIMIT_KEYS.contains(&k.as_str()));
    obj.insert(parsed.as_str().to_string(), Json::Object(own));
    Ok(schema)
}

/// Each gateway's kind (`gateway`, `gateways.NAME`), as the file and the
/// variables set it; a gateway without one is a mock.
fn gateway_kinds(file: &Dict, vars: &[Var]) -> BTreeMap<Vec<String>, String> {
    let mut kinds = BTreeMap::new();
    let kind_in = |d: &Dict| match d.get("kind") {
        Some(Value::String(_, s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => "mock".into(),
    };
    if let Some(Value::Dict(_, g)) = file.get("gateway") {
        kinds.insert(vec!["gateway".to_string()], kind_in(g));
    }
    if let Some(Value::Dict(_, gs)) = file.get("gateways") {
        for (name, g) in gs {
            if let Value::Dict(_, g) = g {
                kinds.insert(vec!["gateways".to_string(), name.clone()], kind_in(g));
            }
        }
    }
    for var in vars {
        let path = var.path();
        if path.last().map(String::as_str) == Some("kind") {
            kinds.insert(path[..path.len() - 1].to_vec(), var.value.clone());
        }
    }
    kinds
}

/// What a key under `path` may hold.
enum Child {
    /// A table or value of this shape.
    Known(Json),
    /// Anything: a map whose keys are the county's (villages, languages).
    Free,
    /// Not a setting: the keys there are.
    Unknown(Vec<String>),
    /// A gateway of a kind there is not.
    BadKind(String),
}

fn child(
    path: &[String],
    schema: &Json,
    key: &str,
    kinds: &BTreeMap<Vec<String>, String>,
) -> Child {
    let mut at = path.to_vec();
    at.push(key.to_string());
    let kind_of = |p: &[String]| kinds.get(p).cloned().unwrap_or_else(|| "mock".into());
    if path == ["gateways"] || at == ["gateway"] {
        return match gateway_schema(&kind_of(&at)) {
            Ok(s) => Child::Known(s),
            Err(reason) => Child::BadKind(reason),
        };
    }
    if path == ["keywords"] {
        return Child::Known(
            serde_json::to_value(crate::domain::keywords::KeywordSet::default())
                .expect("keywords serialize"),
        );
    }
    match schema {
        // A map with nothing in it by default is the county's own
        // (clinics, zones, routes per village, targets, templates).
        Json::Object(o) if o.is_empty() => Child::Free,
        Json::Object(o) => match o.get(key) {
            Some(s) => Child::Known(s.clone()),
            None => Child::Unknown(o.keys().cloned().collect()),
        },
        _ => Child::Unknown(vec![]),
    }
}

/// Checks every key of `dict` (at `path`) against `schema`, and drops, with
/// a problem each, those that are no setting.
fn walk(
    dict: &mut Dict,
    path: &mut Vec<String>,
    schema: &Json,
    kinds: &BTreeMap<Vec<String>, String>,
    problems: &mut Vec<Problem>,
) {
    let keys: Vec<String> = dict.keys().cloned().collect();
    for key in keys {
        let dotted = |k: &str| {
            let mut p = path.clone();
            p.push(k.to_string());
            p.join(".")
        };
        match child(path, schema, &key, kinds) {
            Child::Free => {}
            Child::Known(s) => {
                if let (Some(Value::Dict(_, d)), true) = (dict.get_mut(&key), s.is_object()) {
                    path.push(key);
                    walk(d, path, &s, kinds, problems);
                    path.pop();
                }
            }
            Child::Unknown(known) => {
                let hint = did_you_mean(&key, known.iter().map(String::as_str))
                    .map(|s| format!("; did you mean {}?", dotted(&s)))
                    .unwrap_or_default();
                problems.push(Problem::new(&dotted(&key), format!("not a setting{hint}")));
                dict.remove(&key);
            }
            Child::BadKind(reason) => {
                problems.push(Problem::new(&format!("{}.kind", dotted(&key)), reason));
                dict.remove(&key);
            }
        }
    }
}

/// The shape of the value at `path` (`None`: free), or where the path
/// leaves the settings and the keys there are.
fn leaf_schema(
    path: &[String],
    schema: &Json,
    kinds: &BTreeMap<Vec<String>, String>,
) -> Result<Option<Json>, (usize, Vec<String>)> {
    let mut here = schema.clone();
    for (i, key) in path.iter().enumerate() {
        match child(&path[..i], &here, key, kinds) {
            Child::Known(s) => here = s,
            Child::Free => return Ok(None),
            Child::Unknown(known) => return Err((i, known)),
            // The kind itself is named when the value is read.
            Child::BadKind(_) => return Ok(None),
        }
    }
    Ok(Some(here))
}

/// A variable's text as the value its setting takes: a boolean from
/// `1`/`0`, `yes`/`no`, `on`/`off` or `true`/`false`; text as it is; a
/// number, list or table as TOML reads it.
fn typed(raw: &str, leaf: Option<&Json>) -> Value {
    match leaf {
        Some(Json::Bool(_)) => match raw.trim().to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Value::from(true),
            "0" | "false" | "no" | "off" => Value::from(false),
            _ => Value::from(raw.to_string()),
        },
        None | Some(Json::String(_)) | Some(Json::Null) => Value::from(raw.to_string()),
        Some(_) => raw
            .parse()
            .unwrap_or_else(|e: std::convert::Infallible| match e {}),
    }
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, d) = entry {
                insert_path(d, rest, value);
            }
        }
    }
}

fn get_path<'a>(dict: &'a Dict, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let v = dict.get(first)?;
    match (rest.is_empty(), v) {
        (true, v) => Some(v),
        (false, Value::Dict(_, d)) => get_path(d, rest),
        (false, _) => None,
    }
}

/// Removes the value at `path` (or the table holding it); whether anything was.
fn remove_path(dict: &mut Dict, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => dict.remove(last).is_some(),
        [first, rest @ ..] => match dict.get_mut(first) {
            Some(Value::Dict(_, d)) => remove_path(d, rest) || dict.remove(first).is_some(),
            Some(_) => dict.remove(first).is_some(),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml: &str, env: &[(&str, &str)]) -> (Config, Vec<Problem>) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, toml).unwrap();
        Sources {
            file: Some(f),
            secrets: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
        .check()
    }

    fn keys(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn a_misspelt_key_in_every_table_is_named_with_the_nearest_setting() {
        let (_, problems) = check(
            "databse = \"/var/lib/careminder/careminder.db\"\n\
             send_windw = \"09:00-18:00\"\n\
             api_tokn = \"t\"\n\
             [dispacher]\nbatch_size = 7\n\
             [planner]\nhorizon_hour = 24\n\
             [dispatcher]\nbatch_sise = 7\n\
             [outreach]\nmax_per_wek = 2\n\
             [console]\nsesion_hours = 8\n\
             [inbound]\nforward_to_oficer = false\n\
             [jobs]\ndigest_corn = \"0 0 9 * * *\"\n\
             [home_visits]\nevery_day = 20\n\
             [indicators]\ntarget = {}\n\
             [routing]\nstaf = \"x\"\n\
             [keywords.en]\nopt_ot = [\"STOP\"]\n\
             [gateway]\nkind = \"android\"\nsigining_key = \"k\"\n\
             [gateways.phone]\nkind = \"cht\"\nusernme = \"u\"\n",
            &[],
        );
        let want = [
            ("databse", "did you mean database?"),
            ("send_windw", "did you mean send_window?"),
            ("api_tokn", "did you mean api_token?"),
            ("dispacher", "did you mean dispatcher?"),
            (
                "planner.horizon_hour",
                "did you mean planner.horizon_hours?",
            ),
            (
                "dispatcher.batch_sise",
                "did you mean dispatcher.batch_size?",
            ),
            (
                "outreach.max_per_wek",
                "did you mean outreach.max_per_week?",
            ),
            (
                "console.sesion_hours",
                "did you mean console.session_hours?",
            ),
            (
                "inbound.forward_to_oficer",
                "did you mean inbound.forward_to_officer?",
            ),
            ("jobs.digest_corn", "did you mean jobs.digest_cron?"),
            (
                "home_visits.every_day",
                "did you mean home_visits.every_days?",
            ),
            ("indicators.target", "did you mean indicators.targets?"),
            ("routing.staf", "did you mean routing.staff?"),
            ("keywords.en.opt_ot", "did you mean keywords.en.opt_out?"),
            ("gateway.sigining_key", "did you mean gateway.signing_key?"),
            (
                "gateways.phone.usernme",
                "did you mean gateways.phone.username?",
            ),
        ];
        for (key, hint) in want {
            let p = problems
                .iter()
                .find(|p| p.key == key)
                .unwrap_or_else(|| panic!("{key} not named: {problems:?}"));
            assert!(p.reason.contains(hint), "{p}");
        }
        assert_eq!(problems.len(), want.len(), "{problems:?}");
    }

    #[test]
    fn a_misspelt_variable_is_named_with_the_real_one_and_booleans_read_1_and_0() {
        let (config, problems) = check(
            "",
            &[
                ("CAREMINDER_API_TOKN", "t"),
                ("CAREMINDER_DISPACHER__BATCH_SIZE", "7"),
                ("CAREMINDER_INBOUND__REPLY_TO_UNKNOWN", "0"),
                ("CAREMINDER_INBOUND__FORWARD_TO_OFFICER", "no"),
                ("CAREMINDER_LOG_JSON", "1"),
                ("CAREMINDER_TEST_PG", "postgres://x"),
                ("CAREMINDER_API_TOKEN", "123456"),
            ],
        );
        assert_eq!(
            keys(&problems),
            ["CAREMINDER_API_TOKN", "CAREMINDER_DISPACHER__BATCH_SIZE"]
        );
        assert!(problems[0]
            .reason
            .contains("did you mean CAREMINDER_API_TOKEN?"));
        assert!(problems[1]
            .reason
            .contains("did you mean CAREMINDER_DISPATCHER__BATCH_SIZE?"));
        assert!(!config.inbound.reply_to_unknown);
        assert!(!config.inbound.forward_to_officer);
        // A token of digits stays the text it is.
        assert_eq!(config.api_token.as_deref(), Some("123456"));
    }

    #[test]
    fn every_unreadable_value_is_named_not_only_the_first() {
        let (config, problems) = check(
            "timezone = \"Asia/Shangai\"\nsend_window = \"8-20\"\nlisten = \"localhost\"\n\
             public_url = \"reminders.example\"\n[dispatcher]\nbatch_size = \"many\"\n\
             [zones]\nV010 = \"Asia/Urumchi\"\n",
            &[],
        );
        assert_eq!(
            keys(&problems),
            [
                "dispatcher.batch_size",
                "send_window",
                "timezone",
                "zones",
                "listen",
                "public_url"
            ],
            "{problems:?}"
        );
        let reason = |k: &str| &problems.iter().find(|p| p.key == k).unwrap().reason;
        assert!(reason("timezone").contains("did you mean Asia/Shanghai?"));
        assert!(reason("zones").contains("did you mean Asia/Urumqi?"));
        assert!(reason("listen").contains("host and a port"));
        // What could be read is read: the rest keep their defaults.
        assert_eq!(config.timezone.name(), "Asia/Shanghai");
        assert_eq!(config.dispatcher.batch_size, 500);
    }

    #[test]
    fn a_gateways_address_without_its_scheme_is_named() {
        let (_, problems) = check(
            "[gateways.phone]\nkind = \"android\"\nbase_url = \"192.168.1.20:8080\"\n",
            &[],
        );
        assert_eq!(keys(&problems), ["gateways.phone.base_url"], "{problems:?}");
    }

    #[test]
    fn a_gateway_of_no_kind_is_named_and_its_keys_not_blamed() {
        let (_, problems) = check(
            "[gateways.phone]\nkind = \"andriod\"\nbase_url = \"http://192.0.2.1\"\n",
            &[],
        );
        assert_eq!(keys(&problems), ["gateways.phone.kind"]);
        assert!(
            problems[0].reason.contains("did you mean android?"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_secrets_file_is_read_as_the_environment_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.env");
        std::fs::write(
            &secrets,
            "# the API's token\nCAREMINDER_API_TOKEN=\"from-file\"\n\nCAREMINDER_DATABASE=/srv/c.db\nCAREMINDER_LISTN=127.0.0.1:1\nPGPASSWORD=x\n",
        )
        .unwrap();
        let sources = |env: &[(&str, &str)]| Sources {
            file: None,
            secrets: Some(secrets.clone()),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let (config, problems) = sources(&[]).check();
        assert_eq!(config.api_token.as_deref(), Some("from-file"));
        assert_eq!(config.database, DatabaseUrl::Sqlite("/srv/c.db".into()));
        assert!(config
            .database_from
            .as_deref()
            .unwrap()
            .contains("secrets.env line 4"));
        assert_eq!(keys(&problems), ["CAREMINDER_LISTN"]);
        assert!(problems[0].reason.contains("secrets.env line 5"));
        let (config, _) = sources(&[("CAREMINDER_API_TOKEN", "from-env")]).check();
        assert_eq!(config.api_token.as_deref(), Some("from-env"));
    }

    #[test]
    fn a_relative_database_in_a_file_is_refused_and_nobody_naming_one_is_told_apart() {
        let (_, problems) = check("database = \"careminder.db\"\n", &[]);
        assert_eq!(keys(&problems), ["database"]);
        let (config, problems) = check("", &[]);
        assert!(problems.is_empty());
        assert_eq!(config.database_from, None);
        let (config, _) = check("database = \"/srv/c.db\"\n", &[]);
        assert!(config.database_from.unwrap().contains("c.toml"));
    }
}
