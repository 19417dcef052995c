//! Sign-in and sign-out.

use super::{cookie, render, word, words, Signed, COOKIE};
use crate::services::access::{hash_password, new_password, verify_password as verify};
use crate::web::form::{Form, Query};
use crate::web::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "cm_login";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/language", post(language))
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is stored of a session cookie.
pub fn session_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A staff code as `staff add` accepts it: short, plain characters.
fn plausible_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Checked when the code is unknown, so an answer takes as long whether
/// the code exists or not.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password(&new_password()).expect("hashing works"))
}

fn secure(app: &AppState) -> &'static str {
    if app.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// The sign-in page in `lang` (the county's default when not chosen),
/// the staff code typed kept after a refusal.
fn login_page(
    app: &AppState,
    token: &str,
    lang: &str,
    code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let mut ctx = tera::Context::new();
    ctx.insert("t", &words(lang));
    ctx.insert("lang", lang);
    ctx.insert("code", code);
    // The language link keeps the code typed ("&code=…", escaped in the page).
    let keep = match code {
        "" => String::new(),
        c => format!(
            "&{}",
            serde_urlencoded::to_string([("code", c)]).unwrap_or_default()
        ),
    };
    ctx.insert("keep", &keep);
    ctx.insert("login_csrf", token);
    ctx.insert("error", &error);
    let mut r = render("login.html", &ctx);
    *r.status_mut() = status;
    if let Ok(v) = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict{}",
        secure(app)
    )
    .parse()
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    lang: String,
    /// The code typed before switching language (the page's language link
    /// carries it).
    #[serde(default)]
    code: String,
}

/// The language asked for on the sign-in page ("en" or "zh-CN"), or the
/// county's default.
fn login_language<'a>(app: &'a AppState, asked: &'a str) -> &'a str {
    match asked {
        "en" | "zh-CN" => asked,
        _ => app.config.default_language.as_str(),
    }
}

async fn login_form(State(app): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let lang = login_language(&app, &q.lang);
    let code = q.code.trim().chars().take(64).collect::<String>();
    login_page(&app, &random_token(), lang, &code, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    /// The sign-in page's language, kept when it comes back refused.
    #[serde(default)]
    lang: String,
}

/// The client's address: the peer's, or, when the peer is a proxy on
/// this machine or the local network, the `X-Real-IP` it sets.
fn client_address(headers: &HeaderMap, ext: &axum::http::Extensions) -> String {
    let peer = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let proxied = match peer {
        Some(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Some(std::net::IpAddr::V6(ip)) => ip.is_loopback(),
        None => true,
    };
    let forwarded = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok());
    match (proxied, forwarded, peer) {
        (true, Some(ip), _) => ip.to_string(),
        (_, _, Some(ip)) => ip.to_string(),
        _ => "unknown".into(),
    }
}

async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(f): Form<LoginForm>,
) -> Response {
    let fresh = random_token();
    let lang = login_language(&app, &f.lang).to_string();
    let typed = f.code.trim().chars().take(64).collect::<String>();
    let again =
        |why: &str, status: StatusCode| login_page(&app, &fresh, &lang, &typed, Some(why), status);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    {
        use subtle::ConstantTimeEq;
        if f.csrf.is_empty()
            || f.csrf.len() != expected.len()
            || !bool::from(f.csrf.as_bytes().ct_eq(expected.as_bytes()))
        {
            tracing::warn!("sign-in form without a valid CSRF token");
            return again(word(&lang, "signin_stale"), StatusCode::FORBIDDEN);
        }
    }
    let code = f.code.trim().to_string();
    if !plausible_code(&code) {
        return again(word(&lang, "signin_wrong"), StatusCode::UNAUTHORIZED);
    }
    let address = client_address(&headers, &ext);
    let now = app.clock.now();
    let wait = match app.sign_in_limits.wait(&code, now).await {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "sign-in limits unreadable");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    if let Some(wait) = wait {
        tracing::warn!(
            wait_seconds = wait.num_seconds(),
            "sign-in tried again too soon after failures"
        );
        let why = format!(
            "{} {} {}",
            word(&lang, "signin_wait"),
            wait.num_seconds().max(1),
            word(&lang, "signin_seconds")
        );
        let mut r = again(&why, StatusCode::TOO_MANY_REQUESTS);
        if let Ok(v) = wait.num_seconds().max(1).to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // An address that failed too often is slowed, not refused: the same
    // pause for every code, then judged as any other try.
    match app.sign_in_limits.slowed(&address, now).await {
        Ok(true) => {
            app.metrics.sign_ins_slowed.inc();
            tracing::warn!("sign-in from an address that failed too often: slowed");
            tokio::time::sleep(std::time::Duration::from_millis(
                app.config.console.sign_in_slowdown_ms,
            ))
            .await;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "sign-in limits unreadable");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    }
    let found = match app.store.staff_credentials(&code).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "sign-in lookup failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let (staff, hash) = match found {
        Some((s, Some(hash))) => (Some(s), hash),
        _ => (None, dummy_hash().to_string()),
    };
    // Argon2 is deliberately slow: off the async threads.
    let password = f.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify(&password, &hash))
        .await
        .unwrap_or(false);
    let staff = match staff {
        Some(s) if ok => s,
        other => {
            tracing::info!("sign-in refused");
            if let Err(e) = app.sign_in_limits.failed(&code, &address, now).await {
                tracing::error!(error = %e, "a failed sign-in could not be counted");
            }
            if let Some(s) = other {
                // A wrong password for a real account: its owner and the
                // administrators can see it in the audit log.
                let _ = app
                    .store
                    .audit(
                        now,
                        &s.code,
                        "sign_in_failed",
                        &format!("staff:{}", s.id),
                        &format!("from {address}"),
                    )
                    .await;
            }
            return again(word(&lang, "signin_wrong"), StatusCode::UNAUTHORIZED);
        }
    };
    if let Err(e) = app.sign_in_limits.succeeded(&code).await {
        tracing::error!(error = %e, "sign-in failures could not be cleared");
    }
    let token = random_token();
    if let Err(e) = app
        .store
        .create_session(
            &session_hash(&token),
            staff.id,
            &random_token(),
            now,
            now + chrono::Duration::hours(app.config.console.session_hours.max(1)),
        )
        .await
    {
        tracing::error!(error = %e, "session not stored");
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let _ = app
        .store
        .audit(
            now,
            &staff.code,
            "signed_in",
            &format!("staff:{}", staff.id),
            "",
        )
        .await;
    tracing::info!(staff_id = staff.id, "signed in");
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        app.config.console.session_hours.max(1) * 3600,
        secure(&app)
    )
    .parse()
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(app): State<AppState>,
    s: Signed,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(token) = cookie(&headers, COOKIE) {
        let _ = app.store.delete_session(&session_hash(&token)).await;
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0").parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct LanguageForm {
    #[serde(default)]
    csrf: String,
    language: String,
    /// The page to go back to.
    #[serde(default)]
    back: String,
}

/// Switches the signed-in person's language; her account remembers it.
async fn language(State(app): State<AppState>, s: Signed, Form(f): Form<LanguageForm>) -> Response {
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(lang) = f.language.parse::<crate::domain::Language>() else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "language: zh-CN or en").into_response();
    };
    if let Err(e) = app.store.set_staff_language(s.staff.id, lang).await {
        tracing::error!(error = %e, "language not saved");
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    // Back to the page she was on, on this site only.
    let back = if f.back.starts_with('/') && !f.back.starts_with("//") && !f.back.contains('\\') {
        f.back
    } else {
        "/".to_string()
    };
    Redirect::to(&back).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("x", "not a hash"));
        assert_eq!(new_password().len(), 16);
    }
}
