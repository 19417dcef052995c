//! The shape of the code: dependencies between the top-level modules of
//! `src/` point one way. Read from the source itself (every `crate::`
//! path, `use crate::{...}` groups, and `super::` from a top-level
//! module), so a new reach upwards fails here, naming the cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, top first: a module may use only modules of later layers
/// (and modules of its own layer only when they are listed as peers that
/// do not use each other back; the cycle check below catches that).
const LAYERS: &[&[&str]] = &[
    &["cli", "demo", "bench"],
    &["web"],
    &["app"],
    &["scheduler"],
    &["services"],
    &["store"],
    &["config"],
    &["gateway"],
    &["render"],
    &["domain", "clock", "metrics", "qr"],
];

fn top_module(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// `crate::` re-exports in lib.rs (`pub use app::App`): `crate::App` is `app`.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        if let Some(rest) = line.trim().strip_prefix("pub use ") {
            let rest = rest.trim_end_matches(';');
            if let Some((module, item)) = rest.split_once("::") {
                out.insert(item.to_string(), module.to_string());
            }
        }
    }
    out
}

fn idents_after(text: &str, prefix: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each top-level item of the group.
            let (mut depth, mut at_item) = (0, true);
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        // A bare name ends at the comma (`{postgres, Result}`).
                        if at_item && !name.is_empty() {
                            out.push(std::mem::take(&mut name));
                        }
                        at_item = true;
                    }
                    c if at_item && (c.is_alphanumeric() || c == '_') => name.push(c),
                    _ if at_item && !name.is_empty() => {
                        out.push(std::mem::take(&mut name));
                        at_item = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                out.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let alias = reexports(&lib);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let Some(me) = top_module(rel) else { continue };
            let text = std::fs::read_to_string(&path).unwrap();
            let mut used = idents_after(&text, "crate::");
            // `super::` from a top-level module file is the crate root.
            let top_file = rel.components().count() == 1
                || rel.file_name().is_some_and(|f| f == "mod.rs") && rel.components().count() == 2;
            if top_file {
                used.extend(idents_after(&text, "super::"));
            }
            let deps = graph.entry(me.clone()).or_default();
            for u in used {
                let target = alias.get(&u).cloned().unwrap_or(u);
                if target != me && target != "self" && target != "super" {
                    deps.insert(target);
                }
            }
        }
    }
    let known: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| known.contains(d));
    }
    graph
}

/// A cycle through `from`, if any, as a path of module names.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|m| m == from) {
        let mut c = path[i..].to_vec();
        c.push(from.to_string());
        return Some(c);
    }
    if done.contains(from) {
        return None;
    }
    path.push(from.to_string());
    for next in graph.get(from).into_iter().flatten() {
        if let Some(c) = cycle_from(graph, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(from.to_string());
    None
}

#[test]
fn top_level_modules_form_no_dependency_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 10, "read the modules: {graph:?}");
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(c) = cycle_from(&graph, m, &mut vec![], &mut done) {
            panic!("dependency cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn every_dependency_points_down_the_layers() {
    let graph = module_graph();
    let layer_of = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
    let mut wrong = vec![];
    for (m, deps) in &graph {
        let Some(mine) = layer_of(m) else {
            wrong.push(format!("{m} is in no layer: add it to LAYERS"));
            continue;
        };
        for d in deps {
            match layer_of(d) {
                Some(theirs) if theirs > mine => {}
                Some(theirs) if theirs == mine => {
                    // Peers of one layer may use each other one way; the
                    // cycle test holds them to it.
                }
                _ => wrong.push(format!("{m} uses {d}, which is not below it")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The modules a file inside `src/<top>/` uses beside its own, by name
/// (the second component of their paths): `crate::<top>::x`, and
/// `super::x` from a module of `<top>` itself (`super::super::x` one
/// folder down). `rel` is the file's path under `src/`.
fn sibling_uses(rel: &Path, text: &str) -> Option<(String, String, Vec<String>)> {
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    if parts.len() < 2 || parts[1] == "mod.rs" {
        return None;
    }
    let top = parts[0].to_string();
    let me = parts[1].trim_end_matches(".rs").to_string();
    let mut used = idents_after(text, &format!("crate::{top}::"));
    let is_mod = parts.last() == Some(&"mod.rs");
    match (parts.len(), is_mod) {
        (2, _) | (3, true) => used.extend(idents_after(text, "super::")),
        (3, false) | (4, true) => used.extend(idents_after(text, "super::super::")),
        _ => {}
    }
    used.retain(|u| *u != me && u != "super" && u != "self");
    Some((top, me, used))
}

/// For each top-level module with a folder: its child modules and which
/// of their siblings each uses.
fn second_level_graphs() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            if let Some((top, me, used)) = sibling_uses(rel, &text) {
                graphs
                    .entry(top)
                    .or_default()
                    .entry(me)
                    .or_default()
                    .extend(used);
            }
        }
    }
    for graph in graphs.values_mut() {
        let known: BTreeSet<String> = graph.keys().cloned().collect();
        for deps in graph.values_mut() {
            deps.retain(|d| known.contains(d));
        }
    }
    graphs
}

#[test]
fn modules_inside_each_layer_form_no_dependency_cycle() {
    // Issue 31: the top-level check could not see `gateway/webhooks.rs`
    // and each channel's `webhook.rs` importing each other, nor
    // `store/outbox.rs` and `store/postgres/outbox.rs`.
    let graphs = second_level_graphs();
    for top in [
        "store", "services", "web", "gateway", "cli", "domain", "config",
    ] {
        assert!(graphs.get(top).is_some_and(|g| g.len() >= 2), "read {top}/");
    }
    let mut cycles = vec![];
    for (top, graph) in &graphs {
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            if let Some(c) = cycle_from(graph, m, &mut vec![], &mut done) {
                cycles.push(format!("{top}: {}", c.join(" -> ")));
                break;
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "dependency cycles: {}",
        cycles.join("\n")
    );
}

#[test]
fn the_second_level_reader_sees_siblings_through_super_and_crate_paths() {
    let uses = |rel: &str, text: &str| sibling_uses(Path::new(rel), text);
    assert_eq!(
        uses("store/outbox.rs", "use super::{postgres, Result};"),
        Some((
            "store".into(),
            "outbox".into(),
            vec!["postgres".into(), "Result".into()]
        ))
    );
    assert_eq!(
        uses(
            "store/postgres/outbox.rs",
            "use super::super::outbox::ClaimRow; use super::wake;"
        ),
        Some(("store".into(), "postgres".into(), vec!["outbox".into()]))
    );
    assert_eq!(
        uses(
            "gateway/wechat/mod.rs",
            "use crate::gateway::webhooks::verify; use super::hooks;"
        ),
        Some((
            "gateway".into(),
            "wechat".into(),
            vec!["webhooks".into(), "hooks".into()]
        ))
    );
    assert_eq!(uses("store/mod.rs", "use self::outbox;"), None);
    // A cycle in such a graph is found.
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("outbox", &["postgres"][..]), ("postgres", &["outbox"][..])]
            .into_iter()
            .map(|(m, d)| (m.to_string(), d.iter().map(|x| x.to_string()).collect()))
            .collect();
    assert!(cycle_from(&graph, "outbox", &mut vec![], &mut BTreeSet::new()).is_some());
}

#[test]
fn the_reader_finds_a_reach_upwards() {
    // The checker itself: a group import and a plain path are both seen.
    let used = idents_after(
        "use crate::{app::App, gateway::{Gateways, X}, store};\nlet x = crate::web::router;",
        "crate::",
    );
    assert_eq!(used, ["app", "gateway", "store", "web"]);
    // A bare name before a comma, then another.
    assert_eq!(
        idents_after("use crate::{store, web};", "crate::"),
        ["store", "web"]
    );
}

/// Ways of running futures side by side in one task. A future polled this
/// way is not polled while its task awaits something else; if it held
/// SQLite's single writer connection (or stood first in its queue) and
/// the task then waited for the writer, neither would move again (the
/// `tick` stall of issue 34). Each use is reviewed and counted below.
const SIDE_BY_SIDE: &[&str] = &[
    "select!",
    "join!",
    "join_all",
    "buffer_unordered",
    ".buffered(",
    "FuturesUnordered",
    "FuturesOrdered",
    "ready_chunks",
    "future::select",
    "select_all",
    "stream::select",
];

/// Where futures run side by side, how often, and why none of them can
/// hold the database's writer while another waits for it.
const REVIEWED: &[(&str, usize, &str)] = &[
    (
        "services/dispatcher/mod.rs",
        2,
        "sends are tasks of their own (the stream holds their handles); the select! waits on them or on a timer",
    ),
    (
        "scheduler.rs",
        4,
        "selects over a sleep, a wake-up, shutdown and PostgreSQL's LISTEN connection, never the writer",
    ),
    (
        "cli/serve.rs",
        2,
        "selects over signals, and over the renewal's timer and the shutdown watches (the renewal's write runs after the select, beside nothing)",
    ),
    (
        "bench.rs",
        2,
        "HTTP requests and spawned drains, collected by an await that polls them all",
    ),
];

#[test]
fn futures_run_side_by_side_only_where_none_can_hold_the_writer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let n: usize = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| SIDE_BY_SIDE.iter().filter(|p| l.contains(*p)).count())
                .sum();
            if n > 0 {
                found.insert(rel, n);
            }
        }
    }
    let reviewed: BTreeMap<String, usize> = REVIEWED
        .iter()
        .map(|(f, n, _)| (f.to_string(), *n))
        .collect();
    assert_eq!(
        found, reviewed,
        "futures run side by side in one task where nobody checked that none of them can hold the \
         database's writer while the task awaits something else: run each as a task of its own \
         (tokio::spawn), or review it and count it in REVIEWED"
    );
}
