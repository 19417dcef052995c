//! The OpenAPI description the app serves: it validates (openapi-spec-
//! validator), every documented operation is answered by the app, and a
//! client driven by the description (operations found by operationId,
//! request bodies from its examples, answers checked against its schemas)
//! performs the main operations.

use crate::helpers::*;
use serde_json::{json, Value};

async fn spec(t: &TestApp) -> Value {
    let r = t
        .client
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Replaces every `$ref` to a component schema with the schema itself.
fn inline(v: &Value, spec: &Value) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = r.trim_start_matches("#/components/schemas/");
                return inline(&spec["components"]["schemas"][name], spec);
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), inline(v, spec)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| inline(v, spec)).collect()),
        other => other.clone(),
    }
}

/// A client that knows the API only through its description.
struct Client<'a> {
    t: &'a TestApp,
    spec: Value,
}

impl Client<'_> {
    /// (method, path template, operation) of an operationId.
    fn find(&self, id: &str) -> (String, String, Value) {
        for (path, item) in self.spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op["operationId"] == id {
                    return (method.clone(), path.clone(), op.clone());
                }
            }
        }
        panic!("operation {id} is not in the description");
    }

    /// Calls an operation with path parameters, query and body (the
    /// description's example when `body` is None and it has one); checks
    /// that the status is documented and the answer fits its schema.
    async fn call(
        &self,
        id: &str,
        params: &[(&str, String)],
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let (method, template, op) = self.find(id);
        let mut path = template.clone();
        for (k, v) in params {
            path = path.replace(&format!("{{{k}}}"), v);
        }
        let url = self.t.url(&format!("/api/v1{path}"));
        let mut req = self
            .t
            .client
            .request(method.to_uppercase().parse().unwrap(), url)
            .bearer_auth(TOKEN)
            .query(query);
        let example = op["requestBody"]["content"]["application/json"]["example"].clone();
        if let Some(b) = body.or((!example.is_null()).then_some(example)) {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let value: Value = r.json().await.unwrap_or(Value::Null);
        let documented = &op["responses"][status.to_string()];
        assert!(
            !documented.is_null(),
            "{id}: status {status} is not documented ({value})"
        );
        let schema = &documented["content"]["application/json"]["schema"];
        if !schema.is_null() {
            let schema = inline(schema, &self.spec);
            let v = jsonschema::validator_for(&schema).unwrap();
            let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{id}: answer {value} does not fit its schema: {errors:?}"
            );
        }
        (status, value)
    }
}

#[tokio::test]
async fn the_description_validates_and_every_operation_is_answered() {
    let t = spawn_app().await;
    let spec = spec(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "openapi-spec-validator (pip install openapi-spec-validator; .ci/run does): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every documented operation exists: an unknown id gets a documented
    // answer (404 or 422 with an error), never the router's own 404/405.
    let c = Client {
        t: &t,
        spec: spec.clone(),
    };
    let mut n = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let params: Vec<(&str, String)> = ["id", "campaign", "step"]
                .iter()
                .filter(|p| path.contains(&format!("{{{p}}}")))
                .map(|p| {
                    (
                        *p,
                        if *p == "id" {
                            "999999".to_string()
                        } else {
                            "no-such".to_string()
                        },
                    )
                })
                .collect();
            let query: &[(&str, &str)] = if id == "coverageReport" || id == "listIndicators" {
                &[("from", "2026-11-01"), ("to", "2026-11-30")]
            } else {
                &[]
            };
            let (status, _) = c.call(id, &params, query, None).await;
            assert_ne!(status, 405, "{id}");
            n += 1;
        }
    }
    assert!(n >= 25, "{n} operations");
}

#[tokio::test]
async fn a_client_driven_by_the_description_performs_the_main_operations() {
    let t = spawn_app().await;
    let c = Client {
        t: &t,
        spec: spec(&t).await,
    };
    let (status, enrolled) = c.call("enrollWoman", &[], &[], None).await;
    assert_eq!(status, 201);
    let w = enrolled["woman_id"].as_i64().unwrap().to_string();
    let p = enrolled["pregnancy_id"].as_i64().unwrap().to_string();
    let (_, again) = c.call("enrollWoman", &[], &[], None).await;
    assert_eq!(again["outcome"], "unchanged");
    let (_, woman) = c.call("getWoman", &[("id", w.clone())], &[], None).await;
    assert_eq!(woman["name"], "王秀英");
    assert_eq!(woman["pregnancies"][0]["id"].to_string(), p);
    let (_, found) = c.call("listWomen", &[], &[("q", "5678")], None).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (_, campaigns) = c.call("listCampaigns", &[], &[], None).await;
    assert!(campaigns
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["key"] == "checkup-reminders"));
    let step = [
        ("campaign", "checkup-reminders".to_string()),
        ("step", "before-3d".to_string()),
    ];
    assert_eq!(c.call("setWechatVariant", &step, &[], None).await.0, 200);
    let bad = json!({"template_id": "TPL", "fields": [["thing1", "{{ nmae }}"]]});
    assert_eq!(
        c.call("setWechatVariant", &step, &[], Some(bad)).await.0,
        422
    );
    t.at("2026-12-12 09:00");
    t.tick().await;
    let (_, messages) = c.call("listMessages", &[], &[("woman_id", &w)], None).await;
    assert!(!messages.as_array().unwrap().is_empty());
    let (_, summary) = c.call("messageSummary", &[], &[], None).await;
    assert!(!summary.as_array().unwrap().is_empty());
    let (status, _) = c
        .call("correctDates", &[("id", p.clone())], &[], None)
        .await;
    assert_eq!(status, 200);
    let (_, visit) = c
        .call(
            "recordVisit",
            &[("id", w.clone())],
            &[],
            Some(json!({"by": "admin"})),
        )
        .await;
    assert!(visit["silenced"].is_number());
    let (_, conv) = c
        .call("getConversation", &[("id", w.clone())], &[], None)
        .await;
    assert!(!conv.as_array().unwrap().is_empty());
    let (_, inbox) = c.call("listInbox", &[], &[], None).await;
    assert!(inbox.is_array());
    let (_, cov) = c
        .call(
            "coverageReport",
            &[],
            &[("from", "2026-12-01"), ("to", "2026-12-31")],
            None,
        )
        .await;
    assert!(cov.is_array());
    let (_, out) = c.call("optOut", &[("id", w)], &[], None).await;
    assert!(out["cancelled"].is_number());
}

/// schemathesis (the OpenAPI fuzzer, from PyPI) drives every operation of
/// the description against the running service, about a thousand requests
/// with every check: no server error, every status and body as described,
/// every request the description refuses refused, every one it allows
/// taken (or refused by a rule of care with 422, api/schemathesis.toml).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openapi_fuzzer_finds_the_service_answers_exactly_as_described() {
    let t = spawn_app().await;
    let root = env!("CARGO_MANIFEST_DIR");
    let app_url = t.url("/api/v1");
    // Its own files (a cache of cases) stay out of the repository.
    let scratch = tempfile::tempdir().unwrap();
    let cwd = scratch.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .current_dir(cwd)
            .arg("-c")
            .arg("import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())")
            .arg("--config-file")
            .arg(format!("{root}/api/schemathesis.toml"))
            .arg("run")
            .arg(format!("{root}/api/openapi.json"))
            .args(["--url", &app_url])
            .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
            .args(["--checks", "all", "--max-examples", "30", "--workers", "1"])
            // The same cases every run: a failure is reproducible.
            .args(["--seed", "1"])
            .env("NO_COLOR", "1")
            .output()
            .expect("python3 with schemathesis (scripts/test.sh installs it)")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found the API answering other than described:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("generated"), "{report}");
}
