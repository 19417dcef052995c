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

mod auth;
mod broadcasts;
mod campaigns;
mod pages;
mod records;

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
        "step_form.html",
        include_str!("../../../console/templates/step_form.html"),
    ),
];
const SCRIPT: &str = include_str!("../../../console/static/console.js");

fn tera() -> &'static Tera {
    static T: OnceLock<Tera> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Tera::default();
        t.add_raw_templates(TEMPLATES.iter().copied())
            .expect("console templates compile (checked by tests)");
        t
    })
}

pub fn router() -> Router<AppState> {
    pages::router()
        .merge(auth::router())
        .merge(records::router())
        .merge(campaigns::router())
        .merge(broadcasts::router())
        .layer(axum::middleware::map_response(private_page))
        .route("/static/console.js", axum::routing::get(script))
}

/// Every console page holds someone's records: never cached (Back after
/// sign-out shows nothing), never framed, its type never guessed, no
/// referrer sent on, and only its own script and images run.
async fn private_page(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, axum::http::HeaderValue::from_static(v));
    };
    set(h, header::CACHE_CONTROL, "no-store");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
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

/// The interface's words, in her language.
/// The console's words: (key, Chinese, English).
const WORDS: &[(&str, &str, &str)] = &[
    (
        "tasks",
        "逾期访视与待办家访",
        "Overdue visits and home visits due",
    ),
    ("name", "姓名", "Name"),
    ("village", "村", "Village"),
    ("visit", "访视", "Visit"),
    ("window_ended", "截止日期", "Window ended"),
    ("officer", "责任人", "Officer"),
    ("indicators", "考核指标", "Indicators"),
    ("from", "从", "From"),
    ("to", "到（不含）", "To (not included)"),
    ("target", "目标", "Target"),
    ("area", "地区", "Area"),
    ("numerator", "分子", "Numerator"),
    ("denominator", "分母", "Denominator"),
    ("share", "比例", "Share"),
    ("county", "全县", "County"),
    ("met", "达标", "met"),
    ("below", "未达标", "below target"),
    ("dashboard", "概览", "Dashboard"),
    ("worklist", "工作清单", "Worklist"),
    ("women", "孕产妇", "Women"),
    ("messages", "消息", "Messages"),
    ("campaigns", "提醒活动", "Campaigns"),
    ("audit", "操作记录", "Audit log"),
    ("sign_out", "退出", "Sign out"),
    ("sign_in", "登录", "Sign in"),
    ("code", "工号", "Staff code"),
    ("password", "密码", "Password"),
    ("search", "搜索", "Search"),
    (
        "search_hint",
        "姓名、手机尾号或村",
        "Name, phone tail or village",
    ),
    ("overdue", "逾期访视", "Overdue visits"),
    (
        "missed_not_recorded",
        "已错过，未记录",
        "missed, not recorded",
    ),
    ("home_visit_due", "本月应入户随访", "home visit due"),
    ("days_overdue", "逾期天数", "days overdue"),
    ("inbox", "待回复", "Replies to answer"),
    ("answer", "回复", "Answer"),
    ("save", "保存", "Save"),
    ("preview", "预览", "Preview"),
    ("chars", "字数", "Characters"),
    ("parts", "短信条数", "SMS parts"),
    ("status", "状态", "Status"),
    (
        "sent_per_day",
        "每日发送、送达、失败",
        "Sent, delivered and failed per day",
    ),
    (
        "visits_per_village",
        "各村访视：按时、迟到、逾期",
        "Visits per village: on time, late, overdue",
    ),
    ("as_csv", "下载CSV", "as CSV"),
    ("versions", "历史版本", "Versions"),
    ("pause", "暂停", "Pause"),
    ("resume", "恢复", "Resume"),
    ("archive", "归档", "Archive"),
    ("conversation", "对话", "Conversation"),
    ("visits", "访视", "Visits"),
    ("pregnancies", "孕程", "Pregnancies"),
    ("none", "无", "None"),
    (
        "saved",
        "已保存：未发送的消息将使用新文本。",
        "Saved: messages not yet sent use the new text.",
    ),
    ("filter", "筛选", "Filter"),
    ("any", "全部", "any"),
    ("total", "共", "Total"),
    ("page", "页", "Page"),
    ("prev", "上一页", "Previous"),
    ("next", "下一页", "Next"),
    ("phone", "手机", "Phone"),
    ("pregnancy", "孕程", "Pregnancy"),
    ("edd", "预产期", "EDD"),
    ("status_active", "孕期中", "pregnant"),
    ("status_delivered", "已分娩", "delivered"),
    ("status_ended", "已终止", "ended"),
    (
        "status_stale",
        "超期未记录分娩",
        "past due, no birth recorded",
    ),
    ("status_opted_out", "已退订", "opted out"),
    ("broadcasts", "群发通知", "Broadcasts"),
    ("pregnant_weeks", "孕", "Pregnant"),
    ("weeks_unit", "周", " weeks"),
    ("days_unit", "天", " days"),
    ("next_visit", "下次访视", "Next visit"),
    ("window_until", "最晚", "until"),
    ("at_home", "入户", "at home"),
    ("lmp", "末次月经", "LMP"),
    ("delivered_on", "分娩日期", "Delivered on"),
    ("window", "时间窗", "Window"),
    ("due", "应于", "due"),
    ("recorded", "记录", "Recorded"),
    ("visit_pending", "未到时间", "not yet due"),
    ("visit_open", "可进行", "open now"),
    (
        "visit_window_closed",
        "已过时间窗，未记录",
        "window closed, not recorded",
    ),
    ("visit_done", "已完成", "done"),
    ("visit_missed", "未来", "missed"),
    ("visit_cancelled", "已取消", "cancelled"),
    (
        "coming_messages",
        "未来八周将收到的提醒",
        "Reminders she will get in the next eight weeks",
    ),
    (
        "nothing_sent",
        "她已退订或未同意：不会发送任何消息。",
        "She opted out or has not consented: nothing is sent.",
    ),
    ("series", "系列", "series"),
    ("chart_on_time", "按时", "on time"),
    ("chart_late", "迟到", "late"),
    ("chart_overdue", "逾期", "overdue"),
    ("chart_opt_outs", "退订人数", "opt-outs"),
    ("nothing_yet", "暂无数据", "Nothing yet"),
    ("day", "日期", "Day"),
    ("role_officer", "村医", "officer"),
    ("role_supervisor", "乡镇督导", "supervisor"),
    ("role_admin", "管理员", "administrator"),
    (
        "if_missed",
        "仅当未记录该次访视",
        "only if the visit is not recorded",
    ),
    ("next_due", "下一次应做的", "the next one due"),
    ("new_broadcast", "新建群发", "New broadcast"),
    ("title", "名称", "Title"),
    ("send_at", "发送时间", "Sends at"),
    ("grace_hours", "有效小时数", "Hours it stays worth sending"),
    ("audience", "发送对象", "Audience"),
    ("villages", "村（逗号分隔）", "Villages (comma separated)"),
    ("townships", "乡镇", "Townships"),
    ("stage", "阶段", "Stage"),
    (
        "stage_any",
        "孕期或产后一年内",
        "pregnant or within a year of birth",
    ),
    ("stage_pregnant", "孕期（孕周）", "pregnant (weeks)"),
    ("stage_postpartum", "产后（周）", "after birth (weeks)"),
    ("weeks", "周数", "Weeks"),
    ("language", "语言", "Language"),
    ("promotional", "推广模板", "promotional template"),
    ("save_draft", "保存草稿", "Save as draft"),
    ("recipients", "接收人数", "Recipients"),
    ("publish", "发布", "Publish"),
    ("stop", "停止", "Stop"),
    ("progress", "发送进度", "Progress"),
    ("bstatus_draft", "草稿", "draft"),
    ("bstatus_published", "已发布", "published"),
    ("bstatus_stopped", "已停止", "stopped"),
    ("msg_scheduled", "待发送", "scheduled"),
    ("msg_claimed", "发送中", "sending"),
    ("msg_accepted", "已提交", "accepted"),
    ("msg_sent", "已发出", "sent"),
    ("msg_delivered", "已送达", "delivered"),
    ("msg_failed", "失败", "failed"),
    ("msg_cancelled", "已取消", "cancelled"),
    ("msg_expired", "已过期", "expired"),
    ("register", "登记孕产妇", "Register a woman"),
    ("opt_outs", "每周退订", "Opt-outs per week"),
    ("import", "导入花名册", "Import a roster"),
    ("record_visit", "记录访视", "Record a visit"),
    ("record_birth", "记录分娩", "Record a birth"),
    ("correct_dates", "更正日期", "Correct dates"),
];

/// One word of the catalogue in `lang` (the key itself when missing).
pub(super) fn word(lang: &str, key: &'static str) -> &'static str {
    WORDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, zh, en)| if lang == "en" { *en } else { *zh })
        .unwrap_or(key)
}

fn words(lang: &str) -> serde_json::Value {
    let en = lang == "en";
    WORDS
        .iter()
        .map(|(k, zh, e)| {
            (
                k.to_string(),
                serde_json::Value::from(if en { *e } else { *zh }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Renders a page for the signed-in person.
pub fn page(s: &Signed, name: &str, mut ctx: tera::Context) -> Response {
    ctx.insert("me", &s.staff);
    ctx.insert("is_admin", &s.is_admin());
    ctx.insert("csrf", &s.csrf);
    ctx.insert("path", &s.path);
    ctx.insert("lang", s.lang());
    ctx.insert("t", &words(s.lang()));
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
}
