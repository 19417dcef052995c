//! The web console over real HTTP: sign-in, sessions, CSRF, the area each
//! role sees (every route as every role), the campaign editor.

use crate::helpers::*;
use careminder::store::NewStaff;
use reqwest::redirect::Policy;
use reqwest::StatusCode;

pub(crate) const PASSWORD: &str = "correct-horse-battery";

/// A browser-like client that keeps our cookies by hand (no redirects
/// followed, so Set-Cookie and Location can be checked).
pub(crate) struct Browser<'a> {
    t: &'a TestApp,
    pub(crate) client: reqwest::Client,
    session: Option<String>,
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

/// The value of the first hidden `csrf` field in a page.
fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[i..i + html[i..].find('"').unwrap()].to_string()
}

impl<'a> Browser<'a> {
    pub(crate) fn new(t: &'a TestApp) -> Self {
        Self {
            t,
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            session: None,
        }
    }

    pub(crate) async fn sign_in(&mut self, code: &str, password: &str) -> reqwest::Response {
        let form = self.client.get(self.t.url("/login")).send().await.unwrap();
        let login_cookie = cookie_value(&set_cookie(&form, "cm_login").unwrap());
        let token = csrf_of(&form.text().await.unwrap());
        let r = self
            .client
            .post(self.t.url("/login"))
            .header("cookie", format!("cm_login={login_cookie}"))
            .form(&[("code", code), ("password", password), ("csrf", &token)])
            .send()
            .await
            .unwrap();
        if let Some(c) = set_cookie(&r, "cm_session") {
            self.session = Some(cookie_value(&c));
        }
        r
    }

    /// A file sent as the import page's form sends it (multipart: the
    /// CSRF token, then the file).
    async fn upload(
        &self,
        path: &str,
        csrf: &str,
        name: &str,
        content: &str,
    ) -> (StatusCode, String) {
        let boundary = "----careminder-test";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
        );
        let r = self
            .with_session(self.client.post(self.t.url(path)))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub(crate) fn with_session(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.session {
            Some(s) => rb.header("cookie", format!("cm_session={s}")),
            None => rb,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .with_session(self.client.get(self.t.url(path)))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .with_session(self.client.post(self.t.url(path)))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// A form built with owned values (a test's closure over its fields).
    async fn post_owned(&self, path: &str, form: &[(&str, String)]) -> (StatusCode, String) {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(path, &form).await
    }

    /// This session's CSRF token, as its pages carry it.
    pub(crate) async fn csrf(&self) -> String {
        csrf_of(&self.get("/").await.1)
    }
}

async fn add_staff(
    t: &TestApp,
    code: &str,
    role: &str,
    village: Option<&str>,
    township: Option<&str>,
) {
    add_staff_in(
        t,
        code,
        role,
        village,
        township,
        careminder::domain::Language::En,
    )
    .await
}

/// A member of staff who reads `language`, with the test password.
pub(crate) async fn add_staff_in(
    t: &TestApp,
    code: &str,
    role: &str,
    village: Option<&str>,
    township: Option<&str>,
    language: careminder::domain::Language,
) {
    let id = t
        .app
        .store
        .add_staff(
            &NewStaff {
                code: code.into(),
                name: format!("{code}-name"),
                phone: None,
                role: role.parse().expect("a role"),
                language,
                village: village.map(str::to_string),
                township: township.map(str::to_string),
                wecom_userid: None,
            },
            t.clock.now(),
        )
        .await
        .unwrap();
    let hash = careminder::web::console::hash_password(PASSWORD).unwrap();
    t.app
        .store
        .set_password(id, &hash, t.clock.now())
        .await
        .unwrap();
}

/// An administrator, a supervisor of T1, officer A (V001, T1) and
/// officer B (V002, T2); one woman each for A and B. Returns their ids.
async fn county(t: &TestApp) -> (i64, i64) {
    add_staff(t, "ADM", "admin", None, None).await;
    add_staff(t, "SUP1", "supervisor", None, Some("T1")).await;
    add_staff(t, "OFA", "officer", Some("V001"), Some("T1")).await;
    add_staff(t, "OFB", "officer", Some("V002"), Some("T2")).await;
    let mut a = woman("王秀英", "13812345678", "2026-09-22");
    a.officer = Some("OFA".into());
    let mut b = woman("李桂兰", "13812345679", "2026-09-22");
    b.village = Some("V002".into());
    b.officer = Some("OFB".into());
    let a = t
        .app
        .care
        .enroll(&a, "test", "test")
        .await
        .unwrap()
        .woman_id();
    let b = t
        .app
        .care
        .enroll(&b, "test", "test")
        .await
        .unwrap()
        .woman_id();
    (a, b)
}

#[tokio::test]
async fn sign_in_sets_a_hardened_session_cookie_and_refuses_wrong_passwords() {
    let t = spawn_app().await;
    add_staff(&t, "ADM", "admin", None, None).await;
    let mut b = Browser::new(&t);
    let (status, _) = b.get("/").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed out: to the sign-in form"
    );
    let r = b.sign_in("ADM", "wrong password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(b.session.is_none());
    let r = b.sign_in("ADM", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&r, "cm_session").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let (status, html) = b.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("ADM-name"));
    // The cookie is not stored: only its hash.
    let token = b.session.clone().unwrap();
    match &t.app.config.database {
        careminder::config::DatabaseUrl::Sqlite(path) => {
            let db = std::fs::read(path).unwrap();
            assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
        }
        careminder::config::DatabaseUrl::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let (sessions, holding): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE strpos(s::text, $1) > 0) FROM sessions s",
            )
            .bind(&token)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert!(
                sessions > 0 && holding == 0,
                "{sessions} sessions, {holding} hold the cookie"
            );
        }
    }
    // Signing out ends the session.
    let csrf = b.csrf().await;
    let (status, _) = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_in_waits_after_five_wrong_passwords_for_one_code() {
    let t = spawn_app().await;
    add_staff(&t, "RATE1", "officer", Some("V001"), None).await;
    let mut b = Browser::new(&t);
    let mut statuses = vec![];
    for _ in 0..6 {
        statuses.push(b.sign_in("RATE1", "guess").await.status());
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    // Even the right password waits now.
    assert_eq!(
        b.sign_in("RATE1", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// An administrator who reads Chinese, signed in.
async fn chinese_admin(t: &TestApp) -> Browser<'_> {
    add_staff_in(
        t,
        "ADM",
        "admin",
        None,
        None,
        careminder::domain::Language::ZhCn,
    )
    .await;
    let mut b = Browser::new(t);
    b.sign_in("ADM", PASSWORD).await;
    b
}

/// A sign-in as it arrives through the proxy from `ip`.
async fn sign_in_from(t: &TestApp, code: &str, password: &str, ip: &str) -> StatusCode {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let form = client.get(t.url("/login")).send().await.unwrap();
    let login_cookie = cookie_value(&set_cookie(&form, "cm_login").unwrap());
    let token = csrf_of(&form.text().await.unwrap());
    client
        .post(t.url("/login"))
        .header("cookie", format!("cm_login={login_cookie}"))
        .header("x-real-ip", ip)
        .form(&[("code", code), ("password", password), ("csrf", &token)])
        .send()
        .await
        .unwrap()
        .status()
}

/// Issue 34: a flood of made-up codes from one address locked out the real
/// administrator signing in from the same address (a county office shares
/// one). The address is slowed (each try waits a pause, then is judged),
/// never refused; an account is locked by its own wrong passwords only.
#[tokio::test]
async fn a_flood_of_made_up_codes_slows_its_address_and_the_right_password_still_gets_in() {
    // The pause is real time (it slows a real sprayer): a millisecond here.
    let t = spawn_app_with(|c| c.console.sign_in_slowdown_ms = 1, "2026-12-01 10:00").await;
    add_staff(&t, "NURSE1", "officer", Some("V001"), None).await;
    add_staff(&t, "NURSE2", "officer", Some("V001"), None).await;
    // One address tries 60 made-up codes, fast: each is told the code or
    // password is wrong, none is locked out.
    let mut answers = std::collections::BTreeSet::new();
    for i in 0..60 {
        answers.insert(sign_in_from(&t, &format!("X{i:03}"), "guess", "203.0.113.9").await);
    }
    assert_eq!(
        answers.into_iter().collect::<Vec<_>>(),
        [StatusCode::UNAUTHORIZED]
    );
    // Past its 20 free failures, every try from it was slowed.
    assert_eq!(t.app.metrics.sign_ins_slowed.get(), 40);
    // The nurse at the next desk, behind the same address, signs in.
    assert_eq!(
        sign_in_from(&t, "NURSE1", PASSWORD, "203.0.113.9").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(t.app.metrics.sign_ins_slowed.get(), 41);
    // Someone elsewhere is not slowed at all.
    assert_eq!(
        sign_in_from(&t, "NURSE1", PASSWORD, "198.51.100.7").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(t.app.metrics.sign_ins_slowed.get(), 41);
    // Guessing one account's password: the 6th try waits, whatever the address.
    for i in 0..5 {
        let ip = format!("192.0.2.{i}");
        assert_eq!(
            sign_in_from(&t, "NURSE2", "guess", &ip).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_from(&t, "NURSE2", PASSWORD, "192.0.2.77").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The delay passes (30 seconds, doubling with each further failure).
    t.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(
        sign_in_from(&t, "NURSE2", PASSWORD, "192.0.2.77").await,
        StatusCode::SEE_OTHER
    );
    // Each wrong password for a real account is in the audit log.
    let audit = t.app.store.audit_log(50).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "sign_in_failed")
            .count(),
        5,
        "made-up codes are not audited, real ones are"
    );
}

#[tokio::test]
async fn the_women_list_pages_filters_and_exports_what_it_shows() {
    let t = spawn_app().await;
    add_staff_in(
        &t,
        "ADM",
        "admin",
        None,
        None,
        careminder::domain::Language::ZhCn,
    )
    .await;
    for i in 0..120 {
        let village = if i % 3 == 0 { "V002" } else { "V001" };
        woman_in(
            &t,
            &format!("女{i:03}"),
            &format!("1380000{i:04}"),
            "2026-09-22",
            village,
        )
        .await;
    }
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let (_, html) = b.get("/women").await;
    assert!(
        html.contains("共 120") && html.contains("页 1 / 3"),
        "{html}"
    );
    assert_eq!(
        html.matches("href=\"/women/").count() - html.matches("href=\"/women/new").count(),
        50
    );
    assert!(
        html.contains("孕期中") && html.contains("预产期"),
        "statuses and headers in her language"
    );
    let (_, last) = b.get("/women?page=3").await;
    assert_eq!(last.matches("<td><a href=\"/women/").count(), 20);
    assert!(last.contains("上一页") && !last.contains("下一页"));
    // Filtered: 40 of V002, and the CSV has exactly them, with a BOM.
    let (_, v2) = b.get("/women?village=V002").await;
    assert!(v2.contains("共 40"), "{v2}");
    let r = b
        .with_session(b.client.get(t.url("/women.csv?village=V002")))
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "a BOM for Excel");
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert_eq!(csv.lines().count(), 41, "a header and the 40 women");
    assert!(csv.lines().skip(1).all(|l| l.contains(",V002,")), "{csv}");
    assert!(!csv.contains("13800000000"), "never a whole number");
    // By due date: who delivers in a given month (an LMP a month later is
    // due a month later).
    woman_in(&t, "晚一月", "13900000001", "2026-10-22", "V001").await;
    let (_, due) = b.get("/women?edd_from=2027-07-20&edd_to=2027-08-31").await;
    assert!(due.contains("共 1") && due.contains("晚一月"), "{due}");
    assert!(
        due.contains("edd_from=2027-07-20&amp;edd_to=2027-08-31"),
        "kept in its links"
    );
    let (_, all) = b.get("/women?edd_from=not-a-date").await;
    assert!(
        all.contains("共 121"),
        "a bound that is no date narrows nothing"
    );
}

#[tokio::test]
async fn an_administrator_previews_saves_publishes_and_stops_a_broadcast() {
    let t = spawn_app().await;
    add_staff_in(
        &t,
        "ADM",
        "admin",
        None,
        None,
        careminder::domain::Language::ZhCn,
    )
    .await;
    add_staff(&t, "OFF", "officer", Some("V001"), None).await;
    for i in 0..3 {
        woman_in(
            &t,
            &format!("女{i}"),
            &format!("1380000000{i}"),
            "2026-09-22",
            "V001",
        )
        .await;
    }
    woman_in(&t, "别村", "13800000009", "2026-09-22", "V002").await;
    let mut officer = Browser::new(&t);
    officer.sign_in("OFF", PASSWORD).await;
    assert_eq!(officer.get("/broadcasts").await.0, StatusCode::FORBIDDEN);
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let csrf = b.csrf().await;
    let form = |action: &'static str, text: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("action", action.to_string()),
            ("name", "周二免费产检".to_string()),
            ("send_at", "2026-12-08T10:00".to_string()),
            ("villages", "V001".to_string()),
            ("stage", "any".to_string()),
            ("text_zh", text.to_string()),
            ("grace_hours", "72".to_string()),
        ]
    };
    // A broken text is refused beside the form, which keeps what was typed.
    let (status, html) = b
        .post_owned("/broadcasts", &form("preview", "{{ nmae }}您好"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("nmae") && html.contains("周二免费产检"),
        "{html}"
    );
    // The preview counts her village's women only, and shows their texts.
    let (status, html) = b
        .post_owned(
            "/broadcasts",
            &form("preview", "{{ name }}您好，本周二免费产检。"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("接收人数: 3"), "{html}");
    assert!(
        html.contains("女0您好") || html.contains("女1您好"),
        "{html}"
    );
    // Issue 34: 孕期 with its weeks left empty (as the browser sends them)
    // means any week of pregnancy, and was refused.
    let mut pregnant = form("preview", "{{ name }}您好，本周二免费产检。");
    pregnant.retain(|(k, _)| *k != "stage");
    pregnant.extend([
        ("stage", "pregnant".to_string()),
        ("weeks_from", String::new()),
        ("weeks_to", String::new()),
    ]);
    let (status, html) = b.post_owned("/broadcasts", &pregnant).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("接收人数: 3"), "{html}");
    assert!(
        t.app.store.broadcasts().await.unwrap().is_empty(),
        "a preview saves nothing"
    );
    let r = b
        .with_session(b.client.post(t.url("/broadcasts")))
        .form(
            &form("save", "{{ name }}您好，本周二免费产检。")
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = r.headers()["location"].to_str().unwrap().to_string();
    let (_, html) = b.get(&at).await;
    assert!(
        html.contains("草稿") && html.contains("接收人数: 3"),
        "{html}"
    );
    assert_eq!(
        b.post(&format!("{at}/publish"), &[("csrf", &csrf)]).await.0,
        StatusCode::SEE_OTHER
    );
    let (_, html) = b.get(&at).await;
    assert!(html.contains("已发布") && html.contains("待发送"), "{html}");
    assert_eq!(
        b.post(&format!("{at}/stop"), &[("csrf", &csrf)]).await.0,
        StatusCode::SEE_OTHER
    );
    let (_, html) = b.get(&at).await;
    assert!(html.contains("已停止") && html.contains("已取消"), "{html}");
}

#[tokio::test]
async fn her_page_shows_her_weeks_next_visit_coming_reminders_and_her_number_to_her_officer() {
    // 2026-12-01: she is 10 weeks pregnant (LMP 2026-09-22).
    let t = spawn_app().await;
    let (a, _) = county(&t).await;
    let mut officer = Browser::new(&t);
    officer.sign_in("OFA", PASSWORD).await;
    let (status, html) = officer.get(&format!("/women/{a}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Pregnant 10 weeks"), "{html}");
    assert!(html.contains("Next visit: <strong>"), "{html}");
    // Her own officer can call her; the look is audited.
    assert!(html.contains("href=\"tel:+8613812345678\""), "{html}");
    let audit = t.app.store.audit_log(20).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "phone_viewed" && e.actor == "OFA"));
    // The reminders she will get, weeks beyond the planner's 36 hours.
    let coming = &html[html.find("Reminders she will get").unwrap()..];
    let coming = &coming[..coming.find("</table>").unwrap()];
    assert!(
        coming.contains("3 days before the check-up"),
        "the step in words: {coming}"
    );
    assert!(coming.contains("2027-01-"), "eight weeks ahead: {coming}");
    assert!(coming.contains("2026-12-"), "{coming}");
    assert!(
        !coming.contains("Nothing") && !coming.contains(">None<"),
        "{coming}"
    );
    // Visits by their plain names, not their keys.
    assert!(!html.contains("<td>anc2"), "{html}");
    // An administrator is not her care team: the masked number.
    let mut admin = Browser::new(&t);
    admin.sign_in("ADM", PASSWORD).await;
    let (_, html) = admin.get(&format!("/women/{a}")).await;
    assert!(!html.contains("tel:") && html.contains("…5678"), "{html}");
}

#[tokio::test]
async fn charts_count_in_whole_numbers_and_speak_the_readers_language_even_when_empty() {
    let t = spawn_app().await;
    let b = chinese_admin(&t).await;
    // No village has a visit yet: the chart says so.
    let (_, svg) = b.get("/charts/visits.svg").await;
    assert!(svg.contains("暂无数据") && !svg.contains("NaN"), "{svg}");
    let (_, dashboard) = b.get("/").await;
    for legend in ["已发出", "已送达", "失败", "按时", "迟到", "逾期"] {
        assert!(
            dashboard.contains(legend),
            "legend {legend} in her language"
        );
    }
    // Nothing sent, no opt-out yet: each chart says so rather than
    // drawing an empty axis.
    for path in ["/charts/messages.svg", "/charts/opt-outs.svg"] {
        let (status, svg) = b.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(svg.contains("暂无数据"), "{path}: {svg}");
    }
    // One message sent and one opt-out: axes of 0 to 5 in whole numbers.
    let w = woman_in(&t, "王秀英", "13812345678", "2026-09-22", "V001").await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    t.app
        .consents
        .opt_out(w, careminder::services::consent::Via::Api, "test")
        .await
        .unwrap();
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    for (path, legend) in [
        ("/charts/messages.svg", ""),
        ("/charts/opt-outs.svg", "退订人数"),
    ] {
        let (status, svg) = b.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(svg.contains(legend), "{path}: legend in her language");
        for tick in ["0", "1", "5"] {
            assert!(
                svg.contains(&format!("\n{tick}\n</text>")),
                "{path}: tick {tick}: {svg}"
            );
        }
        assert!(
            !svg.contains(">0.") && !svg.contains("NaN"),
            "{path}: {svg}"
        );
    }
}

#[tokio::test]
async fn every_page_switches_language_and_the_account_remembers_it() {
    let t = spawn_app().await;
    let b = chinese_admin(&t).await;
    let (_, html) = b.get("/women?village=V001").await;
    assert!(
        html.contains("<h1>孕产妇</h1>") && html.contains("管理员"),
        "{html}"
    );
    // The switch on the page comes back to the same page.
    assert!(
        html.contains("name=\"back\" value=\"&#x2F;women?village=V001\""),
        "{html}"
    );
    let csrf = b.csrf().await;
    let r = b
        .with_session(b.client.post(t.url("/language")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("language", "en"),
            ("back", "/women?village=V001"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/women?village=V001");
    let (_, html) = b.get("/women").await;
    assert!(
        html.contains("<h1>Women</h1>") && html.contains("administrator"),
        "{html}"
    );
    // Remembered: a new session reads English too.
    let mut again = Browser::new(&t);
    again.sign_in("ADM", PASSWORD).await;
    assert!(again.get("/").await.1.contains("<h1>Dashboard</h1>"));
    // Never sent to another site.
    let r = b
        .with_session(b.client.post(t.url("/language")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("language", "zh-CN"),
            ("back", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
}

#[tokio::test]
async fn every_route_as_every_role_sees_only_its_area() {
    let t = spawn_app().await;
    let (wa, wb) = county(&t).await;
    // A question from woman A, and a message to her.
    t.app
        .inbound
        .receive(careminder::store::NewInbound {
            gateway: "mock".into(),
            provider_id: "q1".into(),
            sender: "+8613812345678".into(),
            text: "我肚子有点疼，怎么办".into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
    let inbox = t.app.store.inbox(None, false).await.unwrap();
    assert_eq!(
        inbox.len(),
        1,
        "{:?}",
        t.app.store.inbound(1).await.unwrap()
    );
    let inbound_id = inbox[0].id;
    t.at("2026-12-12 09:00");
    t.tick().await;
    let msg_a = t.outbox_of(wa).await[0].id;

    let roles = ["ADM", "SUP1", "OFA", "OFB"];
    let a_page = format!("/women/{wa}");
    let b_page = format!("/women/{wb}");
    let a_msg = format!("/messages/{msg_a}");
    // (path, expected status for ADM, SUP1, OFA, OFB)
    let routes: Vec<(&str, [u16; 4])> = vec![
        ("/", [200, 200, 200, 200]),
        ("/worklist", [200, 200, 200, 200]),
        ("/women", [200, 200, 200, 200]),
        (&a_page, [200, 200, 200, 404]),
        (&b_page, [200, 404, 404, 200]),
        ("/messages", [200, 200, 200, 200]),
        (&a_msg, [200, 200, 200, 404]),
        ("/campaigns", [200, 403, 403, 403]),
        ("/campaigns/checkup-reminders", [200, 403, 403, 403]),
        ("/audit", [200, 403, 403, 403]),
        ("/charts/messages.svg", [200, 200, 200, 200]),
        ("/charts/visits.csv", [200, 200, 200, 200]),
        ("/charts/opt-outs.svg", [200, 200, 200, 200]),
        ("/charts/opt-outs.csv", [200, 200, 200, 200]),
        ("/indicators", [200, 200, 200, 200]),
        ("/charts/indicators.csv", [200, 200, 200, 200]),
        (
            "/charts/indicators/early_registration.svg",
            [200, 200, 200, 200],
        ),
        ("/charts/indicators/no_such.svg", [404, 404, 404, 404]),
        ("/indicators/officers", [200, 200, 403, 403]),
        ("/reports/quarterly", [200, 200, 200, 200]),
        ("/reports/quarterly.csv", [200, 200, 200, 200]),
        ("/reports/quarterly.xlsx", [200, 200, 200, 200]),
    ];
    for (i, code) in roles.iter().enumerate() {
        let mut b = Browser::new(&t);
        assert_eq!(
            b.sign_in(code, PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
        for (path, expected) in &routes {
            let (status, body) = b.get(path).await;
            assert_eq!(status.as_u16(), expected[i], "{code} GET {path}");
            if status == StatusCode::NOT_FOUND {
                assert!(
                    !body.contains("王秀英") && !body.contains("李桂兰"),
                    "{code} {path}: a 404 shows no one"
                );
            }
        }
        // Lists hold only her area.
        let (_, list) = b.get("/women").await;
        let (_, messages) = b.get("/messages").await;
        let (_, work) = b.get("/worklist").await;
        let sees_a = ["ADM", "SUP1", "OFA"].contains(code);
        let sees_b = ["ADM", "OFB"].contains(code);
        assert_eq!(list.contains("王秀英"), sees_a, "{code} /women");
        assert_eq!(list.contains("李桂兰"), sees_b, "{code} /women");
        assert_eq!(
            work.contains("我肚子有点疼"),
            sees_a,
            "{code} /worklist inbox"
        );
        assert_eq!(
            messages.contains(&format!("/messages/{msg_a}\"")),
            sees_a,
            "{code} /messages"
        );
    }
    // Answering her question: her care team only (OFB first, while unanswered).
    for code in ["OFB", "OFA", "SUP1", "ADM"] {
        let mut b = Browser::new(&t);
        b.sign_in(code, PASSWORD).await;
        let csrf = b.csrf().await;
        let (status, _) = b
            .post(
                &format!("/inbox/{inbound_id}/answer"),
                &[("csrf", &csrf), ("text", "请明天来卫生院")],
            )
            .await;
        let expected = if code == "OFB" { 404 } else { 303 };
        assert_eq!(status.as_u16(), expected, "{code} answers");
    }
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    let t = spawn_app().await;
    add_staff(&t, "ADM", "admin", None, None).await;
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let (status, _) = b
        .post(
            "/campaigns/checkup-reminders/steps/before-3d/text",
            &[("language", "en"), ("body", "forged {{ name }}")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = b
        .post(
            "/campaigns/checkup-reminders/steps/before-3d/text",
            &[
                ("csrf", "0000"),
                ("language", "en"),
                ("body", "forged {{ name }}"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let texts = t.app.store.step_texts().await.unwrap();
    assert!(texts.iter().all(|x| !x.body.contains("forged")));
    assert_eq!(b.post("/logout", &[]).await.0, StatusCode::FORBIDDEN);
    // The preview needs the token in its header.
    let r = b
        .with_session(b.client.post(t.url("/preview")))
        .json(&serde_json::json!({"body": "x", "language": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Sign-in without the form's own token.
    let r = b
        .client
        .post(t.url("/login"))
        .form(&[("code", "ADM"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_editor_refuses_a_broken_text_beside_its_field_and_a_saved_text_is_used_and_versioned()
{
    let t = spawn_app().await;
    add_staff(&t, "ADM", "admin", None, None).await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let csrf = b.csrf().await;
    let path = "/campaigns/checkup-reminders/steps/before-3d/text";
    let (status, html) = b
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("language", "zh-CN"),
                ("body", "{{ nmae }}您好"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("field-error") && html.contains("nmae"),
        "the error beside the field"
    );
    assert!(
        html.contains("{{ nmae }}您好"),
        "what she typed stays in the field"
    );

    // The live preview: text, characters and SMS parts, or the error.
    let preview = |body: &'static str| {
        b.with_session(b.client.post(t.url("/preview")))
            .header("x-csrf-token", csrf.clone())
            .json(&serde_json::json!({"body": body, "language": "zh-CN"}))
            .send()
    };
    let p: serde_json::Value = preview("{{ name }}您好，请于{{ date }}来{{ clinic }}产检。")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["ok"], true);
    assert_eq!(
        p["text"], "王秀英您好，请于4月23日来城关镇卫生院产检。",
        "the sample woman"
    );
    assert_eq!(p["parts"], 1);
    let long: serde_json::Value = preview(
        "{{ name }}您好，请于{{ date }}（{{ weekday }}）到{{ clinic }}参加免费的产前检查，请带好母子健康手册和医保卡，如不能前来请回复。谢谢！如有出血、腹痛等不适请立即就医，或回复帮助联系您的村医。",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(long["parts"], 2, "over 70 UCS-2 characters: two parts");
    let bad: serde_json::Value = preview("{{ nmae }}").await.unwrap().json().await.unwrap();
    assert_eq!(bad["ok"], false);

    let (status, _) = b
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("language", "zh-CN"),
                ("body", "{{ name }}您好，请于{{ date }}来{{ clinic }}产检。"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    t.at("2026-12-12 09:00");
    t.tick().await;
    let sent = t.sent_to("+8613812345678");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].message.body,
        "王秀英您好，请于12月15日来乡镇卫生院产检。"
    );
    assert!(t
        .outbox_of(w)
        .await
        .iter()
        .any(|m| m.status == "delivered" || m.status == "accepted"));
    // Eleven days on, the session has ended (12 hours): sign in again.
    assert_eq!(b.get("/").await.0, StatusCode::SEE_OTHER);
    b.sign_in("ADM", PASSWORD).await;
    let (status, versions) = b
        .get("/campaigns/checkup-reminders/steps/before-3d/versions?language=zh-CN")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        versions.contains("ADM") && versions.contains("<ins>"),
        "who, and what changed"
    );
    // The built-in text is the history's first version (by careminder),
    // so the administrator's change is a diff against it, not a whole
    // text marked new: the built-in's words she kept stay unmarked.
    let step = t.step_id("checkup-reminders", "before-3d").await;
    let kept = t.app.store.text_versions(step, "zh-CN").await.unwrap();
    assert_eq!(kept.len(), 2, "the built-in text, then hers");
    assert_eq!(kept[1].changed_by, "careminder");
    assert_eq!(kept[0].changed_by, "ADM");
    assert!(
        versions.contains("<del>"),
        "what she took out of the built-in text"
    );
    let (_, audit) = b.get("/audit").await;
    assert!(
        audit.contains("保存文本") || audit.contains("Text saved"),
        "the action in words, not its code"
    );
}

#[tokio::test]
async fn records_kept_from_the_console_register_import_visit_and_birth_within_the_area() {
    let t = spawn_app().await;
    let (wa, _) = county(&t).await;
    // Officer A registers a woman: she becomes hers.
    let mut a = Browser::new(&t);
    a.sign_in("OFA", PASSWORD).await;
    let csrf = a.csrf().await;
    let (status, _) = a
        .post(
            "/women/new",
            &[
                ("csrf", &csrf),
                ("name", "赵敏"),
                ("phone", "13812340099"),
                ("id_card", ""),
                ("lmp", "2026-09-30"),
                ("consent", "yes"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let found = t
        .app
        .store
        .search_women(
            &careminder::store::Area::Officer("OFA".into()),
            &careminder::store::WomenFilter {
                q: "赵敏".into(),
                ..Default::default()
            },
            5,
            0,
        )
        .await
        .unwrap()
        .0;
    assert_eq!(found.len(), 1, "registered as officer A's");
    // A refused registration says why and keeps what she typed.
    let (status, html) = a
        .post(
            "/women/new",
            &[
                ("csrf", &csrf),
                ("name", "钱芳"),
                ("phone", "12"),
                ("lmp", "2026-09-30"),
                ("consent", "yes"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("phone") && html.contains("钱芳"));
    // Her ID card number on the form: a mistyped one is refused by its
    // check digit (GB 11643-1999) and kept as typed; the right one is hers.
    let (status, html) = a
        .post(
            "/women/new",
            &[
                ("csrf", &csrf),
                ("name", "孙丽"),
                ("phone", "13812340098"),
                ("id_card", "110105199012310021"),
                ("lmp", "2026-09-30"),
                ("consent", "yes"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("check digit") && html.contains("110105199012310021"),
        "{html}"
    );
    let right = id_card("11010519901231002");
    let (status, _) = a
        .post(
            "/women/new",
            &[
                ("csrf", &csrf),
                ("name", "孙丽"),
                ("phone", "13812340098"),
                ("id_card", &right),
                ("lmp", "2026-09-30"),
                ("consent", "yes"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let sun = women_named(&t, "孙丽").await[0].id;
    assert_eq!(
        t.app.store.id_card_of(sun).await.unwrap().as_deref(),
        Some(right.as_str())
    );
    // A visit recorded for her own woman; officer B cannot touch her.
    let (status, _) = a
        .post(
            &format!("/women/{wa}/visit"),
            &[("csrf", &csrf), ("outcome", "done"), ("on", "2026-11-30")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let p = t.app.store.pregnancies_of(wa).await.unwrap()[0].id;
    let visits = t.app.store.visits_of(p).await.unwrap();
    assert_eq!(visits[0].3, "done");
    let mut b = Browser::new(&t);
    b.sign_in("OFB", PASSWORD).await;
    let csrf_b = b.csrf().await;
    let (status, _) = b
        .post(
            &format!("/women/{wa}/birth"),
            &[("csrf", &csrf_b), ("on", "2026-11-30")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Ten weeks after her LMP is no birth date: refused, with the reason.
    let (status, html) = a
        .post(
            &format!("/women/{wa}/birth"),
            &[("csrf", &csrf), ("on", "2026-11-30"), ("place", "县医院")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("2026-11-30"), "{html}");
    // Months later (a new session), the birth is recorded.
    t.at("2027-06-20 10:00");
    a.sign_in("OFA", PASSWORD).await;
    let csrf = a.csrf().await;
    let (status, _) = a
        .post(
            &format!("/women/{wa}/birth"),
            &[("csrf", &csrf), ("on", "2027-06-18"), ("place", "县医院")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.app.store.pregnancies_of(wa).await.unwrap()[0].status,
        "delivered"
    );
    // Officer B cannot re-register officer A's woman to change her dates.
    b.sign_in("OFB", PASSWORD).await;
    let csrf_b = b.csrf().await;
    let (status, html) = b
        .post(
            "/women/new",
            &[
                ("csrf", &csrf_b),
                ("name", "王秀英"),
                ("phone", "13812345678"),
                ("lmp", "2026-10-05"),
                ("consent", "yes"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("another care team") && !html.contains(&format!("/women/{wa}")));
    // Rosters cover the county: officers and supervisors do not import them;
    // an administrator does, and sees each refused row.
    assert_eq!(a.get("/import").await.0, StatusCode::FORBIDDEN);
    let mut sup = Browser::new(&t);
    sup.sign_in("SUP1", PASSWORD).await;
    assert_eq!(sup.get("/import").await.0, StatusCode::FORBIDDEN);
    let mut sup = Browser::new(&t);
    sup.sign_in("ADM", PASSWORD).await;
    // (the roster's dates are judged on this later day)
    let csrf_s = sup.csrf().await;
    let csv = "name,phone,lmp,village,officer,consent\n孙丽,13812340101,2027-03-01,V001,OFA,yes\n周红,not-a-phone,2027-03-01,V001,OFA,yes\n吴芳,13812340103,2030-01-01,V001,OFA,yes\n郑敏,13812340104,2027-03-01,V001,OFX,yes\n";
    let (status, html) = sup.upload("/import", &csrf_s, "v001.csv", csv).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("created 2"), "{html}");
    assert!(
        html.contains("<td>3</td>") && html.contains("<td>4</td>"),
        "rows 3 and 4 refused, by row number"
    );
    // Row 5 is registered, but names an officer no one is: the page says
    // her overdue visits would reach no one.
    assert!(
        html.contains("not on the staff list") && html.contains("<td>5</td><td>OFX</td>"),
        "{html}"
    );
    // The page lists every column name the importer reads, and a file it
    // cannot read at all (no name column) brings the page back with the
    // reason beside the file input.
    let (_, form) = sup.get("/import").await;
    for name in [
        "姓名",
        "电话",
        "知情同意",
        "同意",
        "管理方案",
        "openid",
        "care_plan",
    ] {
        assert!(form.contains(name), "the page names column {name}");
    }
    let bad = "编号,电话号码\n1,13812340101\n";
    let (status, html) = sup.upload("/import", &csrf_s, "numbers.csv", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        html.contains("type=\"file\"") && html.contains("role=\"alert\">numbers.csv: "),
        "{html}"
    );
}

#[tokio::test]
async fn an_administrator_creates_a_paused_campaign_adds_a_step_and_sets_its_wechat_message() {
    let t = spawn_app().await;
    add_staff(&t, "ADM", "admin", None, None).await;
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let csrf = b.csrf().await;
    let step = |key: &'static str, zh: &'static str| {
        vec![
            ("step_key", key),
            ("anchor", "visit_due"),
            ("offset_days", "-1"),
            ("send_time", "18:00"),
            ("grace_hours", "12"),
            ("text_zh", zh),
        ]
    };
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("campaign_key", "eve-reminders"),
        ("campaign_name", "Evening before"),
    ];
    form.extend(step("eve", "{{ nmae }}明天产检"));
    assert_eq!(
        b.post("/campaigns/new", &form).await.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a broken text creates nothing"
    );
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("campaign_key", "eve-reminders"),
        ("campaign_name", "Evening before"),
    ];
    form.extend(step("eve", "{{ name }}您好，明天请来{{ clinic }}产检。"));
    assert_eq!(
        b.post("/campaigns/new", &form).await.0,
        StatusCode::SEE_OTHER
    );
    let campaigns = t.app.store.campaigns().await.unwrap();
    let c = campaigns.iter().find(|c| c.0 == "eve-reminders").unwrap();
    assert_eq!(
        (c.2.as_str(), c.4),
        ("paused", 1),
        "new campaigns wait to be published"
    );
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(step("eve2", "{{ name }}您好，后天请来产检。"));
    assert_eq!(
        b.post("/campaigns/eve-reminders/steps", &form).await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        b.post("/campaigns/eve-reminders/steps", &form).await.0,
        StatusCode::CONFLICT,
        "the same step key twice"
    );
    // Its WeChat message: a field over 20 characters is refused, by name.
    let (status, html) = b
        .post(
            "/campaigns/eve-reminders/steps/eve/wechat",
            &[
                ("csrf", &csrf),
                ("template_id", "TPL1"),
                (
                    "fields",
                    "thing1 = {{ clinic }}{{ clinic }}{{ clinic }}{{ clinic }}",
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("thing1") && html.contains("20"), "{html}");
    let (status, _) = b
        .post(
            "/campaigns/eve-reminders/steps/eve/wechat",
            &[
                ("csrf", &csrf),
                ("template_id", "TPL1"),
                ("fields", "thing1 = {{ name }}\ntime2 = {{ date }}"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let v = t.app.store.wechat_variants().await.unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].fields[1],
        ("time2".to_string(), "{{ date }}".to_string())
    );
    // Published: resumed.
    assert_eq!(
        b.post(
            "/campaigns/eve-reminders/status",
            &[("csrf", &csrf), ("status", "active")]
        )
        .await
        .0,
        StatusCode::SEE_OTHER
    );
    let campaigns = t.app.store.campaigns().await.unwrap();
    assert_eq!(
        campaigns.iter().find(|c| c.0 == "eve-reminders").unwrap().2,
        "active"
    );
}

#[tokio::test]
async fn with_a_cloud_sms_provider_each_step_gets_its_approved_template_before_publishing() {
    let t = spawn_app_with(
        |c| {
            c.gateway.channel =
                careminder::config::ChannelSettings::Aliyun(careminder::gateway::aliyun::Settings {
                    base_url: "http://127.0.0.1:9".into(),
                    access_key_id: "id".into(),
                    access_key_secret: "secret".into(),
                    sign_name: "县妇幼".into(),
                    callback_secret: "0123456789abcdef".into(),
                    ..Default::default()
                })
        },
        "2026-12-01 10:00",
    )
    .await;
    add_staff(&t, "ADM", "admin", None, None).await;
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let csrf = b.csrf().await;
    let (_, html) = b.get("/campaigns/checkup-reminders").await;
    assert!(
        html.contains("aliyun SMS template") && html.contains("missing"),
        "{html}"
    );
    b.post(
        "/campaigns/checkup-reminders/status",
        &[("csrf", &csrf), ("status", "paused")],
    )
    .await;
    // Publishing is refused while a step has none, naming the step and gateway.
    let (status, html) = b
        .post(
            "/campaigns/checkup-reminders/status",
            &[("csrf", &csrf), ("status", "active")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("before-3d") && html.contains("gateway default (aliyun)"),
        "{html}"
    );
    let form = |params: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("code", "SMS_100".to_string()),
            (
                "content",
                "${name}您好，请于${date}到${clinic}产检。".to_string(),
            ),
            ("params", params.to_string()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>, step: String| {
        let b = &b;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post(
                &format!("/campaigns/checkup-reminders/steps/{step}/sms/aliyun"),
                &f,
            )
            .await
        }
    };
    let (status, html) = post(
        form("name = {{ name }}\ndate = {{ date }}"),
        "before-3d".into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("${clinic}"),
        "the unmapped variable is named: {html}"
    );
    let steps: Vec<String> = t
        .app
        .store
        .campaign_steps_for_edit("checkup-reminders")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    for step in steps {
        let (status, html) = post(
            form("name = {{ name }}\ndate = {{ date }}\nclinic = {{ clinic }}"),
            step,
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    }
    let (status, _) = b
        .post(
            "/campaigns/checkup-reminders/status",
            &[("csrf", &csrf), ("status", "active")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn each_chart_has_its_numbers_as_csv_and_they_match_the_records() {
    let t = spawn_app().await;
    add_staff(&t, "ADM", "admin", None, None).await;
    let w = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.enroll("李桂兰", "13812345679", "2026-09-22").await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    t.app
        .consents
        .opt_out(w, careminder::services::consent::Via::Console, "test")
        .await
        .unwrap();
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let (_, messages) = b.get("/charts/messages.csv").await;
    assert!(
        messages.lines().any(|l| l == "2026-12-12,2,2,0"),
        "{messages}"
    );
    let (_, opt_outs) = b.get("/charts/opt-outs.csv").await;
    let total: i64 = opt_outs
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 1, "{opt_outs}");
    let (status, svg) = b.get("/charts/opt-outs.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.starts_with("<svg"));
    let (_, visits) = b.get("/charts/visits.csv").await;
    assert!(
        visits.starts_with("\u{feff}village,on_time,late,overdue\n\"V001\","),
        "{visits}"
    );
}

#[tokio::test]
async fn every_console_page_is_private_uncached_unframed_and_scripted_only_by_itself() {
    let t = spawn_app().await;
    let (wa, _) = county(&t).await;
    let mut b = Browser::new(&t);
    assert_eq!(
        b.sign_in("ADM", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let a_page = format!("/women/{wa}");
    for path in [
        "/login",
        "/",
        "/worklist",
        "/women",
        a_page.as_str(),
        "/messages",
        "/indicators",
        "/campaigns",
        "/audit",
        "/broadcasts",
        "/women.csv",
        "/charts/visits.csv",
    ] {
        let r = b
            .with_session(b.client.get(t.url(path)))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(get("cache-control"), "no-store", "{path}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
        let csp = get("content-security-policy");
        assert!(
            csp.contains("script-src 'self'")
                && csp.contains("style-src 'self'")
                && !csp.contains("unsafe-inline")
                && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
    }
}

/// The catalogue of one language, read from its file beside the templates.
pub(crate) fn catalogue(lang: &str) -> Vec<(String, String)> {
    let path = format!("{}/console/i18n/{lang}.toml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_string(), serde_json::from_str::<String>(v).unwrap()))
        .collect()
}

/// What a reader sees of a page: its text and the words of its fields'
/// hints and labels, without markup, scripts or styles.
pub(crate) fn visible_text(html: &str) -> String {
    let mut rest = html.to_string();
    // Scripts, styles, and texts being edited (a campaign's texts in every
    // language are data, not the interface's words).
    // Codes (a roster's column names) are the same in every language.
    for skip in ["script", "style", "textarea", "code"] {
        let (open, close) = (format!("<{skip}"), format!("</{skip}>"));
        while let Some(a) = rest.find(&open) {
            let b = rest[a..]
                .find(&close)
                .map_or(rest.len(), |b| a + b + close.len());
            rest.replace_range(a..b, " ");
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    for c in rest.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
                text.push(' ');
            }
            (true, '>') => {
                in_tag = false;
                // Words a reader sees that live in attributes.
                for attr in ["placeholder=\"", "title=\"", "aria-label=\"", "alt=\""] {
                    if let Some(a) = tag.find(attr) {
                        let v = &tag[a + attr.len()..];
                        text.push_str(&v[..v.find('"').unwrap_or(v.len())]);
                        text.push(' ');
                    }
                }
                if tag.starts_with("input") && tag.contains("type=\"submit\"") {
                    if let Some(a) = tag.find("value=\"") {
                        let v = &tag[a + 7..];
                        text.push_str(&v[..v.find('"').unwrap_or(v.len())]);
                    }
                }
            }
            (true, c) => tag.push(c),
            (false, c) => text.push(c),
        }
    }
    text.replace("&#x2F;", "/").replace("&amp;", "&")
}

/// Whether `word` stands in `text` as a word of its own (not inside another
/// word, nor part of a key such as `missed-visit` or `checkup/before-3d`).
pub(crate) fn holds_word(text: &str, word: &str) -> bool {
    let ascii = word.is_ascii();
    text.match_indices(word).any(|(at, _)| {
        if !ascii {
            return true;
        }
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let in_code = |c: char| c.is_ascii_alphanumeric() || "-_/.".contains(c);
        !before.is_some_and(in_code) && !after.is_some_and(in_code)
    })
}

/// Every page a member of staff reading `lang` opens, on a county whose
/// women read `lang` too (their messages are data, in their language).
async fn pages_read_in(lang: &str) -> Vec<(String, String)> {
    // The clinic's name is the county's data, not the interface's words.
    let t = spawn_app_with(|c| c.default_clinic = "Clinic 7".into(), "2026-12-01 10:00").await;
    let language = if lang == "en" {
        careminder::domain::Language::En
    } else {
        careminder::domain::Language::ZhCn
    };
    add_staff_in(&t, "ADM", "admin", None, None, language).await;
    let mut w = woman("王秀英", "13812345678", "2026-09-22");
    w.language = Some(lang.into());
    let wa = t
        .app
        .care
        .enroll(&w, "test", "test")
        .await
        .unwrap()
        .woman_id();
    t.at("2026-12-12 09:00");
    t.tick().await;
    let msg = t.outbox_of(wa).await[0].id;
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let csrf = b.csrf().await;
    let (status, _) = b
        .post(
            "/broadcasts",
            &[
                ("csrf", csrf.as_str()),
                ("action", "save"),
                ("name", "B-1"),
                ("send_at", "2026-12-20T10:00"),
                ("villages", "V001"),
                ("stage", "any"),
                ("text_zh", "{{ name }}"),
                ("text_en", "{{ name }}"),
                ("grace_hours", "72"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let broadcast = t.app.store.broadcasts().await.unwrap()[0].id;
    let paths = [
        "/".to_string(),
        "/worklist".into(),
        "/worklist/print?village=V001".into(),
        "/women".into(),
        format!("/women/{wa}"),
        "/women/new".into(),
        "/import".into(),
        "/messages".into(),
        format!("/messages/{msg}"),
        "/campaigns".into(),
        "/campaigns/checkup-reminders".into(),
        "/broadcasts".into(),
        format!("/broadcasts/{broadcast}"),
        "/indicators".into(),
        "/indicators/officers".into(),
        "/reports/quarterly".into(),
        "/audit".into(),
    ];
    let mut pages = vec![];
    for path in paths {
        let (status, html) = b.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{lang} {path}");
        pages.push((path, html));
    }
    pages
}

#[tokio::test]
async fn every_page_in_one_language_holds_no_word_of_the_others_catalogue() {
    let zh = catalogue("zh-CN");
    let en = catalogue("en");
    // Words spelt the same in both (a code, a unit) belong to neither.
    let shared: std::collections::HashSet<&String> = zh
        .iter()
        .filter(|(k, v)| en.iter().any(|(k2, v2)| k == k2 && v == v2))
        .map(|(_, v)| v)
        .collect();
    for (lang, other) in [("zh-CN", &en), ("en", &zh)] {
        let mut leaks = vec![];
        for (path, html) in pages_read_in(lang).await {
            // (The policy allows no inline style: none is written.)
            assert!(
                !html.contains("<style") && !html.contains(" style="),
                "{path}: an inline style"
            );
            let text = visible_text(&html);
            for (key, word) in other.iter() {
                if !shared.contains(word) && holds_word(&text, word) {
                    leaks.push(format!("{path}: {key} = {word:?}"));
                }
            }
        }
        assert!(
            leaks.is_empty(),
            "pages in {lang} hold the other language's words:\n{}",
            leaks.join("\n")
        );
    }
}

#[tokio::test]
async fn the_message_and_audit_lists_page_through_everything_with_their_totals() {
    let t = spawn_app().await;
    let b = chinese_admin(&t).await;
    for i in 0..250 {
        t.app
            .store
            .audit(
                t.clock.now(),
                "ADM",
                "test.entry",
                &format!("entry-{i:03}"),
                "",
            )
            .await
            .unwrap();
    }
    let total = t.app.store.audit_page("", "", 1, 0).await.unwrap().1;
    assert!(total >= 250, "{total}");
    let pages = (total + 99) / 100;
    let (_, first) = b.get("/audit").await;
    assert!(
        first.contains(&format!("共 {total}")) || first.contains(&format!("{total}")),
        "{first}"
    );
    assert!(first.contains("entry-249") && !first.contains("entry-149"));
    assert!(
        first.contains("audit?actor=&amp;action=&amp;page=2"),
        "{first}"
    );
    let (_, second) = b.get("/audit?page=2").await;
    assert!(second.contains("entry-149") && !second.contains("entry-249"));
    let (_, last) = b.get(&format!("/audit?page={pages}")).await;
    assert!(last.contains("entry-000") && !last.contains(&format!("page={}", pages + 1)));
    // Who did what: narrowed by member of staff and action, as CSV too.
    t.app
        .store
        .audit(t.clock.now(), "OFA", "visit_recorded", "woman:1", "")
        .await
        .unwrap();
    let (_, ofa) = b.get("/audit?actor=OFA").await;
    assert!(
        ofa.contains("共 1") && ofa.contains("visit_recorded"),
        "{ofa}"
    );
    let (_, entries) = b.get("/audit?action=test.entry&page=3").await;
    assert!(entries.contains("共 250") && entries.contains("entry-000"));
    let (status, csv) = b.get("/audit.csv?action=test.entry").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with('\u{feff}') && csv.lines().count() == 251);
    assert!(
        csv.starts_with("\u{feff}时间,操作人,操作,对象,详情"),
        "the header in her language: {csv}"
    );

    // Messages: a page of 100 at a time, the filters kept from page to page.
    for i in 0..120 {
        woman_in(
            &t,
            &format!("女{i}"),
            &format!("138{i:08}"),
            "2026-09-22",
            "V001",
        )
        .await;
    }
    t.at("2026-12-12 09:00");
    t.tick().await;
    // Eleven days on, the morning's session has long ended.
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let sent = t
        .app
        .store
        .message_log(
            &careminder::store::Area::All,
            &careminder::store::MessageLogFilter {
                status: Some("delivered".into()),
                ..Default::default()
            },
            1,
            0,
        )
        .await
        .unwrap()
        .1;
    assert!(sent > 100, "{sent} delivered");
    let (_, html) = b.get("/messages?status=delivered").await;
    assert_eq!(html.matches("<tr><td><a href=\"/messages/").count(), 100);
    assert!(html.contains(&sent.to_string()), "the total is shown");
    assert!(
        html.contains("status=delivered&amp;gateway=&amp;campaign=&amp;from=&amp;to=&amp;page=2"),
        "{html}"
    );
    let (_, two) = b.get("/messages?status=delivered&page=2").await;
    assert_eq!(
        two.matches("<tr><td><a href=\"/messages/").count() as i64,
        sent - 100
    );
    // The same list as CSV, every page of it, with a BOM for Excel.
    let (status, csv) = b.get("/messages.csv?status=delivered").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with('\u{feff}'), "a BOM");
    assert_eq!(
        csv.lines().count() as i64,
        sent + 1,
        "a header and every message"
    );
    // A Chinese reader's file speaks Chinese: its header, each step and
    // status in words (an English reader's keeps the codes scripts read).
    assert!(
        csv.starts_with("\u{feff}编号,孕产妇编号,发送时间,提醒,渠道,网关,状态,内容"),
        "{csv}"
    );
    assert!(csv.contains(",已送达,"), "{csv}");
    assert!(csv.contains("产检日前3天"), "{csv}");
    assert!(!csv.contains("checkup-reminders/"), "{csv}");
    assert!(
        html.contains("/messages.csv?status=delivered&amp;"),
        "linked, filters kept"
    );
    // Statuses read in the reader's language.
    assert!(
        two.contains("已送达") && !two.contains(">delivered<"),
        "{two}"
    );
}

#[tokio::test]
async fn an_officer_prints_her_villages_round_with_who_is_overdue_and_who_is_due_soon() {
    let t = spawn_app().await;
    add_staff_in(
        &t,
        "OFA",
        "officer",
        Some("V001"),
        Some("T1"),
        careminder::domain::Language::ZhCn,
    )
    .await;
    let mut late = woman("逾期者", "13812345001", "2026-07-01");
    late.officer = Some("OFA".into());
    let mut soon = woman("将到者", "13812345002", "2026-10-20");
    soon.officer = Some("OFA".into());
    let mut elsewhere = woman("别村人", "13812345003", "2026-07-01");
    elsewhere.village = Some("V009".into());
    elsewhere.officer = Some("OFA".into());
    for w in [&late, &soon, &elsewhere] {
        t.app.care.enroll(w, "test", "test").await.unwrap();
    }
    t.at("2026-12-20 09:00");
    let mut b = Browser::new(&t);
    b.sign_in("OFA", PASSWORD).await;
    let (_, work) = b.get("/worklist").await;
    assert!(work.contains("/worklist/print?village="), "{work}");
    // Her own village by default, on paper: overdue, then due in two weeks.
    let (status, html) = b.get("/worklist/print").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("走访清单 · V001"), "{html}");
    let overdue = &html[html.find("逾期访视").unwrap()..html.find("两周内到期").unwrap()];
    let coming = &html[html.find("两周内到期").unwrap()..];
    assert!(overdue.contains("逾期者"), "{html}");
    assert!(coming.contains("将到者"), "{coming}");
    // Each listed by the day it is due, which falls within the two weeks.
    assert!(coming.contains("应检日期"), "{coming}");
    let until = chrono::NaiveDate::from_ymd_opt(2027, 1, 3).unwrap();
    let listed: Vec<_> = t
        .app
        .store
        .coming_visits(
            until,
            chrono::NaiveDate::from_ymd_opt(2026, 12, 13).unwrap(),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.name == "将到者")
        .collect();
    assert!(!listed.is_empty());
    for v in listed {
        assert!(v.due_on <= until, "{v:?}");
        assert!(coming.contains(&v.due_on.to_string()), "{coming}");
    }
    assert!(
        !html.contains("别村人"),
        "another village's women stay off the page"
    );
    assert!(html.contains("完成日期") && html.contains("备注"));
    let (_, css) = b.get("/static/console.css").await;
    assert!(
        html.contains("/static/console.css") && css.contains("@media print{header,form"),
        "the page prints without its menus"
    );
    // Another village, asked for.
    let (_, other) = b.get("/worklist/print?village=V009").await;
    assert!(other.contains("别村人") && !other.contains("逾期者"));
}

#[tokio::test]
async fn a_refused_visit_birth_or_date_keeps_what_was_typed_with_the_reason_beside_the_form() {
    let t = spawn_app().await;
    let b = chinese_admin(&t).await;
    let w = woman_in(&t, "王秀英", "13812345678", "2026-09-22", "V001").await;
    let csrf = b.csrf().await;
    let page = format!("/women/{w}");
    // A visit dated in the future.
    let (status, html) = b
        .post(
            &format!("{page}/visit"),
            &[
                ("csrf", csrf.as_str()),
                ("on", "2027-03-01"),
                ("place", "镇卫生院二楼"),
                ("note", "带了手册"),
                ("outcome", "done"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let form = &html[html.find("action=\"/women/").unwrap()..];
    assert!(
        html.contains("<details class=\"card\" open><summary>记录访视"),
        "the form is open again: {html}"
    );
    for typed in [
        "value=\"2027-03-01\"",
        "value=\"镇卫生院二楼\"",
        "value=\"带了手册\"",
    ] {
        assert!(form.contains(typed), "{typed} kept: {form}");
    }
    assert!(
        form.contains("role=\"alert\">日期：2027-03-01 晚于今天")
            || form.contains("role=\"alert\">2027-03-01 晚于今天"),
        "the reason beside the form: {form}"
    );
    assert!(html.contains("王秀英"), "on her page");
    // A birth before 20 weeks: the place typed is kept, the others closed.
    let (status, html) = b
        .post(
            &format!("{page}/birth"),
            &[
                ("csrf", csrf.as_str()),
                ("on", "2026-11-30"),
                ("place", "县医院"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("<details class=\"card\" open><summary>记录分娩"),
        "{html}"
    );
    assert!(
        html.contains("value=\"县医院\"") && html.contains("不满 20 孕周"),
        "{html}"
    );
    assert!(!html.contains("<details class=\"card\" open><summary>记录访视"));
    // Nothing was recorded.
    let (_, after) = b.get(&page).await;
    assert!(!after.contains("镇卫生院二楼") && !after.contains("县医院"));
}

#[tokio::test]
async fn an_administrator_registers_only_for_a_real_officer_and_gets_her_village() {
    let t = spawn_app().await;
    county(&t).await;
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let csrf = b.csrf().await;
    let form = |officer: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "孙丽".to_string()),
            ("phone", "13812340077".to_string()),
            ("lmp", "2026-09-30".to_string()),
            ("officer", officer.to_string()),
            ("consent", "yes".to_string()),
        ]
    };
    // A mistyped code would leave her on nobody's worklist: refused, kept.
    let (status, html) = b.post_owned("/women/new", &form("NOBODY")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("NOBODY") && html.contains("孙丽"), "{html}");
    assert!(women_named(&t, "孙丽").await.is_empty());
    // A real officer, no village typed: her officer's village.
    let (status, _) = b.post_owned("/women/new", &form("OFB")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let found = women_named(&t, "孙丽").await;
    assert_eq!(found[0].village.as_deref(), Some("V002"));
    assert_eq!(found[0].officer_code.as_deref(), Some("OFB"));
}

#[tokio::test]
async fn a_refused_campaign_step_or_template_form_comes_back_filled_in_with_its_reason() {
    let t = spawn_app().await;
    let b = chinese_admin(&t).await;
    let csrf = b.csrf().await;
    // A new campaign whose text has a mistyped variable.
    let (status, html) = b
        .post(
            "/campaigns/new",
            &[
                ("csrf", csrf.as_str()),
                ("campaign_key", "eve-reminders"),
                ("campaign_name", "前一晚提醒"),
                ("step_key", "eve"),
                ("anchor", "visit_window_start"),
                ("offset_days", "-1"),
                ("send_time", "18:00"),
                ("grace_hours", "12"),
                ("text_zh", "{{ nmae }}明天产检"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for kept in [
        "value=\"eve-reminders\"",
        "value=\"前一晚提醒\"",
        "value=\"eve\"",
        "value=\"visit_window_start\" selected",
        "value=\"-1\"",
        "value=\"18:00\"",
        "value=\"12\"",
        "nmae }}明天产检</textarea>",
    ] {
        assert!(html.contains(kept), "{kept} kept: {html}");
    }
    assert!(html.contains("role=\"alert\">") && html.contains("nmae"));
    // A step with no number of days: refused in words, not a parser's.
    let (status, html) = b
        .post(
            "/campaigns/checkup-reminders/steps",
            &[
                ("csrf", csrf.as_str()),
                ("step_key", "extra"),
                ("anchor", "visit_due"),
                ("offset_days", ""),
                ("send_time", "09:00"),
                ("grace_hours", "24"),
                ("text_zh", "{{ name }}您好"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("role=\"alert\">天数：请填写整数") && html.contains("value=\"extra\""),
        "{html}"
    );
    // A WeChat field without '=': the three fields as typed, the reason beside them.
    let (status, html) = b
        .post(
            "/campaigns/checkup-reminders/steps/before-3d/wechat",
            &[
                ("csrf", csrf.as_str()),
                ("template_id", "TPL-9"),
                ("url", "https://example.org/x"),
                ("fields", "thing1 {{ name }}"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let at = html
        .find("action=\"/campaigns/checkup-reminders/steps/before-3d/wechat\"")
        .unwrap();
    let form = &html[at..at + html[at..].find("</form>").unwrap()];
    assert!(
        form.contains("value=\"TPL-9\"")
            && form.contains("thing1 {{ name }}</textarea>")
            && form.contains("role=\"alert\">"),
        "{form}"
    );
}

#[tokio::test]
async fn the_sign_in_page_speaks_either_language_and_keeps_the_code_typed() {
    let t = spawn_app().await;
    add_staff(&t, "OFA", "officer", Some("V001"), Some("T1")).await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    // The county's language by default, English when asked, each with a
    // link to the other.
    let zh = t.get_text("/login").await;
    assert!(
        zh.contains("登录") && zh.contains("href=\"/login?lang=en\""),
        "{zh}"
    );
    let form = client.get(t.url("/login?lang=en")).send().await.unwrap();
    let login_cookie = cookie_value(&set_cookie(&form, "cm_login").unwrap());
    let en = form.text().await.unwrap();
    assert!(
        en.contains("Sign in") && en.contains("name=\"lang\" value=\"en\""),
        "{en}"
    );
    // A wrong password: the reason in her language, her code still there.
    let csrf = csrf_of(&en);
    let r = client
        .post(t.url("/login"))
        .header("cookie", format!("cm_login={login_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("lang", "en"),
            ("code", "OFA"),
            ("password", "not it"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Wrong staff code or password") && html.contains("value=\"OFA\""),
        "{html}"
    );
    // Issue 34: switching language on that page kept nothing she typed.
    // Its link carries the code, and the page it opens holds it.
    assert!(
        html.contains("href=\"/login?lang=zh-CN&amp;code=OFA\""),
        "{html}"
    );
    let zh = t.get_text("/login?lang=zh-CN&code=OFA").await;
    assert!(zh.contains("登录") && zh.contains("value=\"OFA\""), "{zh}");
    // The page's script keeps the link up to date as she types.
    assert!(zh.contains("<script src=\"/static/console.js\""), "{zh}");
}

#[tokio::test]
async fn a_refused_answer_comes_back_under_her_question_as_typed() {
    let t = spawn_app().await;
    county(&t).await;
    let received = t
        .app
        .inbound
        .receive(careminder::store::NewInbound {
            gateway: "mock".into(),
            provider_id: "q-long".into(),
            sender: "+8613812345678".into(),
            text: "我想问一下产检要带什么".into(),
            received_at: t.clock.now(),
        })
        .await
        .unwrap();
    let q = received.inbound_id.expect("in the inbox");
    let mut b = Browser::new(&t);
    b.sign_in("OFA", PASSWORD).await;
    let csrf = b.csrf().await;
    let long = format!("请带上手册。{}", "好".repeat(400));
    let (status, html) = b
        .post(
            &format!("/inbox/{q}/answer"),
            &[("csrf", csrf.as_str()), ("text", long.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let card = &html[html.find(&format!("id=\"inbound-{q}\"")).unwrap()..];
    assert!(
        card.contains("我想问一下产检要带什么")
            && card.contains(&format!("{long}</textarea>"))
            && card.contains("role=\"alert\">the answer has 406 characters"),
        "{card}"
    );
}

/// Issue 32 in the console: her officer grades her on her page (a colour,
/// purple with its infection, the reasons), sees the grade and its
/// history there, and a refused grade comes back beside its form in
/// Chinese. The grade is her care team's: never in a text to her.
#[tokio::test]
async fn her_officer_grades_her_risk_on_her_page_and_sees_its_history() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    county(&t).await;
    let wa = zhao_min_with_her_chinese_officer(&t, "2026-08-01").await;
    let mut b = Browser::new(&t);
    b.sign_in("OFZ", PASSWORD).await;
    let page = format!("/women/{wa}");
    let (_, html) = b.get(&page).await;
    assert!(
        html.contains("妊娠风险") && html.contains("未评估"),
        "{html}"
    );
    let csrf = b.csrf().await;
    // Nothing chosen: refused beside the form, in Chinese.
    let (status, html) = b
        .post(
            &format!("{page}/risk"),
            &[
                ("csrf", csrf.as_str()),
                ("colour", ""),
                ("on", ""),
                ("reasons", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("role=\"alert\">风险等级：请选择颜色"),
        "{html}"
    );
    // Red, and purple for hepatitis B, as the form posts its boxes.
    let (status, _) = b
        .post(
            &format!("{page}/risk"),
            &[
                ("csrf", csrf.as_str()),
                ("colour", "red"),
                ("purple", "on"),
                ("infections", "hepatitis_b"),
                ("on", "2026-11-30"),
                ("reasons", "重度子痫前期"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = b.get(&page).await;
    assert!(
        html.contains("红色（高风险） + 紫色（传染病：乙肝）")
            && html.contains("2026-11-30")
            && html.contains("重度子痫前期"),
        "{html}"
    );
    // Her list shows the grade in words and filters by it (the browser
    // sends every filter, the empty ones too).
    let (_, list) = b
        .get("/women?q=&village=&officer=&status=&risk=high&edd_from=&edd_to=")
        .await;
    assert!(
        list.contains("赵敏") && list.contains("红色+紫色"),
        "{list}"
    );
    let (_, list) = b.get("/women?risk=green").await;
    assert!(!list.contains("赵敏"), "{list}");
    let (_, list) = b.get("/women?risk=none").await;
    assert!(!list.contains("赵敏"), "{list}");
    // Red without a case manager: her township's supervisor has the task
    // on the worklist the same day, her grade beside it, and the
    // worklist's grade filter (empty fields as the browser sends them)
    // narrows it.
    let mut sup = Browser::new(&t);
    sup.sign_in("SUP1", PASSWORD).await;
    let (_, work) = sup.get("/worklist?village=&risk=").await;
    assert!(
        work.contains("Assign a case manager") && work.contains("赵敏"),
        "{work}"
    );
    assert!(work.contains("risk-red risk-purple\">red+purple"), "{work}");
    let (_, work) = sup.get("/worklist?village=&risk=green").await;
    assert!(!work.contains("赵敏"), "{work}");
    let (_, work) = sup.get("/worklist?village=&risk=high").await;
    assert!(work.contains("赵敏"), "{work}");
    // The county's case manager takes her: the task is done, and she is
    // on the manager's own list.
    t.app
        .risk
        .assign_case_manager(wa, "ADM", "ADM")
        .await
        .unwrap();
    let (_, work) = sup.get("/worklist").await;
    assert!(!work.contains("Assign a case manager"), "{work}");
    let mut adm = Browser::new(&t);
    adm.sign_in("ADM", PASSWORD).await;
    let (_, work) = adm.get("/worklist").await;
    assert!(
        work.contains("My case-managed women") && work.contains("赵敏"),
        "{work}"
    );
    let (_, list) = adm.get("/women?case_manager=ADM&risk=").await;
    assert!(list.contains("赵敏"), "{list}");
    // Reading a high-risk woman's grade history is audited.
    let audit = t.app.store.audit_log(50).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "risk_graded" && a.actor == "OFZ"));
    assert!(audit
        .iter()
        .any(|a| a.action == "risk_viewed" && a.actor == "OFZ"));
    // Another township's officer cannot open her page at all.
    let mut other = Browser::new(&t);
    other.sign_in("OFB", PASSWORD).await;
    assert_eq!(other.get(&page).await.0, StatusCode::NOT_FOUND);
}

/// Issue 33 in the console: an administrator uploads a hospital's delivery
/// register (Chinese headers, as the hospital's system exports it), sees
/// what it recorded, what it refused by line, and decides the rows it
/// could not match, each with a reason kept in the audit log.
#[tokio::test]
async fn an_administrator_uploads_a_delivery_register_and_decides_the_rows_to_match() {
    let t = spawn_app_with(|_| {}, "2026-11-01 10:00").await;
    add_staff_in(
        &t,
        "ADM",
        "admin",
        None,
        None,
        careminder::domain::Language::ZhCn,
    )
    .await;
    let known = t
        .enroll("王秀英", "13812340001", "2026-03-01")
        .await
        .woman_id();
    t.at("2026-12-09 10:00");
    let mut b = Browser::new(&t);
    b.sign_in("ADM", PASSWORD).await;
    let (status, html) = b.get("/registers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("登记册") && html.contains("待匹配 (0)"),
        "{html}"
    );
    let csrf = b.csrf().await;
    let register = "姓名,手机号,分娩日期,分娩地点\n\
                    王秀英,13812340001,2026-12-05,县人民医院\n\
                    张不在,13812349999,2026-12-06,县人民医院\n\
                    ,,2026-12-06,县人民医院\n";
    let boundary = "----careminder-test";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ndeliveries\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"分娩登记.csv\"\r\nContent-Type: text/csv\r\n\r\n{register}\r\n--{boundary}--\r\n"
    );
    let r = b
        .with_session(b.client.post(t.url("/registers")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    // One recorded, one to match, one refused by its line, in Chinese.
    assert!(
        html.contains("已记录 1") && html.contains("待匹配 1") && html.contains("<td>4</td>"),
        "{html}"
    );
    assert!(html.contains("没有身份证号、手机号或姓名"), "{html}");
    assert!(
        html.contains("没有对得上的在册孕产妇") && html.contains("张不在"),
        "{html}"
    );
    let births = t.app.store.birth_recorded_on(known).await.unwrap();
    assert_eq!(births.map(|d| d.to_string()).as_deref(), Some("2026-12-05"));
    // Deciding a row needs a reason.
    let row = careminder::services::registers::waiting(&t.app.care)
        .await
        .unwrap()[0]
        .id;
    let (status, html) = b
        .post(
            &format!("/registers/{row}/decide"),
            &[
                ("csrf", csrf.as_str()),
                ("action", "dismiss"),
                ("reason", ""),
                ("woman_id", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("role=\"alert\">原因：请说明原因"), "{html}");
    let (status, _) = b
        .post(
            &format!("/registers/{row}/decide"),
            &[
                ("csrf", csrf.as_str()),
                ("action", "dismiss"),
                ("reason", "外县户籍，在本院分娩"),
                ("woman_id", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = b.get("/registers").await;
    assert!(html.contains("待匹配 (0)"), "{html}");
    let (_, audit) = b.get("/audit").await;
    assert!(audit.contains("登记册行：不属于本县"), "{audit}");
    // Officers do not see registers.
    add_staff(&t, "OFA", "officer", Some("V001"), Some("T1")).await;
    let mut o = Browser::new(&t);
    o.sign_in("OFA", PASSWORD).await;
    assert_eq!(o.get("/registers").await.0, StatusCode::FORBIDDEN);
}

/// Issue 34: her conversation on a Chinese page says what each of her
/// texts meant and what was done with it in Chinese, and each message to
/// her by its step in words, not as the codes the services record
/// (`opt_out`, "opted out; 2 messages cancelled", `checkup-reminders/…`).
#[tokio::test]
async fn her_conversation_reads_in_chinese_what_she_meant_and_what_was_done() {
    let t = spawn_app_with(|_| {}, "2026-12-01 10:00").await;
    let id = zhao_min_with_her_chinese_officer(&t, "2026-09-22").await;
    t.at("2026-12-12 09:00");
    t.tick().await;
    assert!(!t.sent_to("+8613812345670").is_empty(), "a reminder went");
    for (n, text) in ["我周一去不了，可以周三去吗？", "TD"]
        .into_iter()
        .enumerate()
    {
        t.app
            .inbound
            .receive(careminder::store::NewInbound {
                gateway: "mock".into(),
                provider_id: format!("zh-{n}"),
                sender: "+8613812345670".into(),
                text: text.into(),
                received_at: t.clock.now(),
            })
            .await
            .unwrap();
    }
    let mut b = Browser::new(&t);
    b.sign_in("OFZ", PASSWORD).await;
    let (_, html) = b.get(&format!("/women/{id}")).await;
    for said in [
        "提问",
        "退订",
        "已退订，取消待发消息",
        "产检提醒 · 产检日前3天",
        "回复",
    ] {
        assert!(html.contains(said), "{said}: {html}");
    }
    for code in [
        ">opt_out<",
        ">question<",
        "opted out;",
        "checkup-reminders/",
        ">reply<",
    ] {
        assert!(!html.contains(code), "{code}: {html}");
    }
}

/// 赵敏 (last period `lmp`) in V001, and her officer OFZ, who reads
/// Chinese; her id.
async fn zhao_min_with_her_chinese_officer(t: &TestApp, lmp: &str) -> i64 {
    add_staff_in(
        t,
        "OFZ",
        "officer",
        Some("V001"),
        Some("T1"),
        careminder::domain::Language::ZhCn,
    )
    .await;
    let mut w = woman("赵敏", "13812345670", lmp);
    w.officer = Some("OFZ".into());
    t.app
        .care
        .enroll(&w, "test", "test")
        .await
        .unwrap()
        .woman_id()
}
