//! The web console: server-rendered pages (Tera, escaped) for staff.
//!
//! Sign-in checks a password hashed with Argon2id; a session is a random
//! cookie (HttpOnly, SameSite=Strict, Secure behind https) of which only a
//! SHA-256 hash is stored. Every form carries the session's CSRF token
//! (the sign-in form a double-submit cookie), compared in constant time.
//! Sign-in attempts are rate-limited per staff code and overall. Every page
//! narrows to the signed-in person's [`Area`]: an officer sees her women,
//! a supervisor her township's, an administrator the county's; a woman or
//! message outside it is "not found".

// Handlers answer with a page either way: a Response in both arms is the point.
#![allow(clippy::result_large_err)]

mod audit;
mod auth;
mod broadcasts;
mod campaigns;
mod dashboard;
mod import;
mod kit;
mod messages;
mod records;
mod registers;
mod reports;
mod women;
mod worklist;

use crate::store::{Area, StaffRow};
use crate::web::AppState;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use std::sync::OnceLock;
use tera::Tera;

pub use crate::services::access::{hash_password, new_password};

/// The session cookie.
pub const COOKIE: &str = "cm_session";

/// Templates and static files, compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../console/templates/base.html"),
    ),
    (
        "macros.html",
        include_str!("../../../console/templates/macros.html"),
    ),
    (
        "login.html",
        include_str!("../../../console/templates/login.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../../console/templates/dashboard.html"),
    ),
    (
        "women.html",
        include_str!("../../../console/templates/women.html"),
    ),
    (
        "woman.html",
        include_str!("../../../console/templates/woman.html"),
    ),
    (
        "worklist.html",
        include_str!("../../../console/templates/worklist.html"),
    ),
    (
        "indicators.html",
        include_str!("../../../console/templates/indicators.html"),
    ),
    (
        "period_form.html",
        include_str!("../../../console/templates/period_form.html"),
    ),
    (
        "officers.html",
        include_str!("../../../console/templates/officers.html"),
    ),
    (
        "quarterly.html",
        include_str!("../../../console/templates/quarterly.html"),
    ),
    (
        "messages.html",
        include_str!("../../../console/templates/messages.html"),
    ),
    (
        "message.html",
        include_str!("../../../console/templates/message.html"),
    ),
    (
        "campaigns.html",
        include_str!("../../../console/templates/campaigns.html"),
    ),
    (
        "campaign.html",
        include_str!("../../../console/templates/campaign.html"),
    ),
    (
        "versions.html",
        include_str!("../../../console/templates/versions.html"),
    ),
    (
        "audit.html",
        include_str!("../../../console/templates/audit.html"),
    ),
    (
        "error.html",
        include_str!("../../../console/templates/error.html"),
    ),
    (
        "register.html",
        include_str!("../../../console/templates/register.html"),
    ),
    (
        "registers.html",
        include_str!("../../../console/templates/registers.html"),
    ),
    (
        "import.html",
        include_str!("../../../console/templates/import.html"),
    ),
    (
        "broadcasts.html",
        include_str!("../../../console/templates/broadcasts.html"),
    ),
    (
        "broadcast.html",
        include_str!("../../../console/templates/broadcast.html"),
    ),
    (
        "transfer.html",
        include_str!("../../../console/templates/transfer.html"),
    ),
    (
        "worklist_print.html",
        include_str!("../../../console/templates/worklist_print.html"),
    ),
    (
        "pager.html",
        include_str!("../../../console/templates/pager.html"),
    ),
    (
        "step_form.html",
        include_str!("../../../console/templates/step_form.html"),
    ),
];
const SCRIPT: &str = include_str!("../../../console/static/console.js");
const STYLES: &str = include_str!("../../../console/static/console.css");

fn tera() -> &'static Tera {
    static T: OnceLock<Tera> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Tera::default();
        t.register_filter("refusal", crate::web::refusal::filter);
        t.add_raw_templates(TEMPLATES.iter().copied())
            .expect("console templates compile (checked by tests)");
        t
    })
}

pub fn router() -> Router<AppState> {
    dashboard::router()
        .merge(women::router())
        .merge(worklist::router())
        .merge(messages::router())
        .merge(audit::router())
        .merge(import::router())
        .merge(auth::router())
        .merge(records::router())
        .merge(reports::router())
        .merge(campaigns::router())
        .merge(broadcasts::router())
        .merge(registers::router())
        .layer(axum::middleware::map_response(private_page))
        .route("/static/console.js", axum::routing::get(script))
        .route("/static/console.css", axum::routing::get(styles))
}

/// Every console page holds someone's records: never cached (Back after
/// sign-out shows nothing), never framed, its type never guessed, no
/// referrer sent on, and only its own script, styles and images apply (no
/// inline script or style).
async fn private_page(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, axum::http::HeaderValue::from_static(v));
    };
    set(h, header::CACHE_CONTROL, "no-store");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; \
         script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    res
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn styles() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLES,
    )
        .into_response()
}

/// The signed-in person, from the session cookie.
#[derive(Debug, Clone)]
pub struct Signed {
    pub staff: StaffRow,
    pub csrf: String,
    pub area: Area,
    /// The page asked for (a GET's path and query), to come back to after
    /// switching language.
    pub path: String,
}

impl Signed {
    pub fn is_admin(&self) -> bool {
        self.staff.role == crate::domain::Role::Admin
    }

    /// The language of the interface: hers.
    pub fn lang(&self) -> &str {
        if self.staff.language == crate::domain::Language::En {
            "en"
        } else {
            "zh-CN"
        }
    }

    /// Refuses a form whose token is not this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), Response> {
        use subtle::ConstantTimeEq;
        let ok = !given.is_empty()
            && given.len() == self.csrf.len()
            && bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()));
        if ok {
            Ok(())
        } else {
            tracing::warn!(
                staff_id = self.staff.id,
                "console form without a valid CSRF token"
            );
            Err((
                StatusCode::FORBIDDEN,
                "the form is stale or forged: reload the page",
            )
                .into_response())
        }
    }
}

/// Pages a person reaches without signing in go to the sign-in form.
pub struct NotSignedIn;

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl axum::extract::FromRequestParts<AppState> for Signed {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Err(NotSignedIn);
        };
        match app
            .store
            .session(&auth::session_hash(&token), app.clock.now())
            .await
        {
            Ok(Some((staff, csrf))) => Ok(Signed {
                path: if parts.method == axum::http::Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "/".into())
                } else {
                    "/".into()
                },
                area: Area::of(&staff),
                staff,
                csrf,
            }),
            _ => Err(NotSignedIn),
        }
    }
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The console's words, one catalogue per language in `console/i18n/`
/// beside the templates (compiled into the binary). A page asks for
/// `t.<key>`; a key missing from either file fails a test, and a page in
/// one language holding a word of the other fails another.
const CATALOGUES: &[(&str, &str)] = &[
    ("zh-CN", include_str!("../../../console/i18n/zh-CN.toml")),
    ("en", include_str!("../../../console/i18n/en.toml")),
];

type Catalogue = std::collections::BTreeMap<String, String>;

fn catalogue(lang: &str) -> &'static Catalogue {
    static PARSED: OnceLock<Vec<(&'static str, Catalogue)>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        CATALOGUES
            .iter()
            .map(|(lang, text)| {
                use figment::providers::Format;
                let words = figment::Figment::from(figment::providers::Toml::string(text))
                    .extract::<Catalogue>()
                    .unwrap_or_else(|e| panic!("console/i18n/{lang}.toml: {e}"));
                (*lang, words)
            })
            .collect()
    });
    let lang = if lang == "en" { "en" } else { "zh-CN" };
    &all.iter()
        .find(|(l, _)| *l == lang)
        .expect("both catalogues")
        .1
}

/// One word of the catalogue in `lang` (the key itself when missing).
pub(super) fn word(lang: &str, key: &'static str) -> &'static str {
    catalogue(lang).get(key).map(String::as_str).unwrap_or(key)
}

/// A word the catalogue may hold, by a key made at run time.
pub(super) fn word_of(lang: &str, key: &str) -> Option<&'static str> {
    catalogue(lang).get(key).map(String::as_str)
}

fn words(lang: &str) -> &'static Catalogue {
    catalogue(lang)
}

/// Renders a page for the signed-in person.
pub fn page(s: &Signed, name: &str, mut ctx: tera::Context) -> Response {
    ctx.insert("me", &s.staff);
    ctx.insert("is_admin", &s.is_admin());
    ctx.insert("csrf", &s.csrf);
    ctx.insert("path", &s.path);
    ctx.insert("lang", s.lang());
    ctx.insert("t", words(s.lang()));
    render(name, &ctx)
}

fn render(name: &str, ctx: &tera::Context) -> Response {
    match tera().render(name, ctx) {
        Ok(h) => Html(h).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The reason when a rule said no (a date in the future, a mistyped
/// variable): a form shows it again beside what was typed. Any other
/// failure is handed back, for [`refused`].
pub(super) fn said_no(e: crate::services::AppError) -> Result<String, crate::services::AppError> {
    match e {
        crate::services::AppError::Refused(m) => Ok(m),
        e @ crate::services::AppError::Input(_) => Ok(e.to_string()),
        e => Err(e),
    }
}

/// What an `App` refusal looks like on a page.
pub(super) fn refused(s: &Signed, e: crate::services::AppError) -> Response {
    match e {
        crate::services::AppError::Store(crate::store::StoreError::NotFound(_)) => {
            error_page(s, StatusCode::NOT_FOUND, "not found")
        }
        crate::services::AppError::Input(e) => {
            error_page(s, StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
        crate::services::AppError::Refused(m) => {
            error_page(s, StatusCode::UNPROCESSABLE_ENTITY, &m)
        }
        crate::services::AppError::Forbidden(m) => error_page(s, StatusCode::FORBIDDEN, &m),
        crate::services::AppError::Store(crate::store::StoreError::Conflict(m)) => {
            error_page(s, StatusCode::CONFLICT, &m)
        }
        other => {
            tracing::error!(error = %other, "console change failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page saying what went wrong, with its status.
pub fn error_page(s: &Signed, status: StatusCode, message: &str) -> Response {
    let mut ctx = tera::Context::new();
    ctx.insert("message", message);
    let mut r = page(s, "error.html", ctx);
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        super::tera();
    }

    /// Keys a page or handler asks for: `t.<key>` in the templates,
    /// `word(lang, "<key>")` and `w("<key>")` in the code.
    fn keys_used() -> std::collections::BTreeSet<String> {
        let mut used = std::collections::BTreeSet::new();
        let mut scan = |text: &str, prefix: &str| {
            for (at, _) in text.match_indices(prefix) {
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let rest = &text[at + prefix.len()..];
                let key: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !key.is_empty() {
                    used.insert(key);
                }
            }
        };
        for (_, html) in super::TEMPLATES {
            scan(html, "t.");
        }
        for code in [
            include_str!("dashboard.rs"),
            include_str!("women.rs"),
            include_str!("worklist.rs"),
            include_str!("messages.rs"),
            include_str!("audit.rs"),
            include_str!("import.rs"),
            include_str!("kit.rs"),
            include_str!("records.rs"),
            include_str!("campaigns.rs"),
            include_str!("broadcasts.rs"),
            include_str!("auth.rs"),
        ] {
            scan(code, "w(\"");
            scan(code, "word(s.lang(), \"");
            scan(code, "word(lang, \"");
            scan(code, "word(&lang, \"");
        }
        used
    }

    #[test]
    fn both_catalogues_hold_the_same_keys_and_every_key_a_page_asks_for() {
        let zh = super::catalogue("zh-CN");
        let en = super::catalogue("en");
        let only_zh: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
        let only_en: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        assert!(only_zh.is_empty(), "missing from en.toml: {only_zh:?}");
        assert!(only_en.is_empty(), "missing from zh-CN.toml: {only_en:?}");
        let missing: Vec<_> = keys_used()
            .into_iter()
            .filter(|k| !zh.contains_key(k))
            .collect();
        assert!(
            missing.is_empty(),
            "asked for but in no catalogue: {missing:?}"
        );
        for (k, v) in zh.iter().chain(en.iter()) {
            assert!(!v.trim().is_empty(), "{k} is empty");
        }
    }
}
