//! The console in a real headless browser (Debian's chromium through
//! chromedriver, driven by fantoccini): sign in, edit a campaign text, see
//! the preview and the SMS part count change as she types, save a broken
//! template and see its error, publish, and see the message go out with
//! the new text. With CAREMINDER_SCREENSHOTS=DIR it also saves the
//! screenshots kept in docs/screenshots/.

use crate::helpers::*;
use careminder::store::NewStaff;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

const PASSWORD: &str = "browser-test-password";

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromedriver: apt install chromium chromium-driver (.ci/run does)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Wait for the driver process to listen (not for time to pass).
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(d: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1100,900",
                "--lang=zh-CN",
                format!("--user-data-dir={}", d._profile.path().display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("a chromium session")
}

/// Polls the page (the browser works on its own) until `check` holds.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("the page never showed {what}");
}

async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn shot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("CAREMINDER_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Signs the administrator in through the sign-in page, as she would.
async fn sign_in_as_admin(c: &Client, t: &TestApp) {
    c.goto(&t.url("/login")).await.unwrap();
    shot(c, "login").await;
    type_into(c, "#code", "admin").await;
    type_into(c, "#password", PASSWORD).await;
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until("the dashboard", || async {
        c.current_url().await.unwrap().path() == "/"
    })
    .await;
}

/// The county's administrator, reading Chinese, with the test password.
async fn add_admin(t: &TestApp) {
    let id = t
        .app
        .store
        .add_staff(
            &NewStaff {
                code: "admin".into(),
                name: "县管理员".into(),
                phone: None,
                role: careminder::domain::Role::Admin,
                language: careminder::domain::Language::ZhCn,
                village: None,
                township: None,
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

#[tokio::test]
async fn an_administrator_edits_previews_and_publishes_a_text_in_a_real_browser() {
    let t = spawn_app_with(|_| {}, "2026-12-12 08:30").await;
    add_admin(&t).await;
    t.enroll("王秀英", "13812345678", "2026-09-22").await;
    t.enroll("李桂兰", "13812345679", "2026-10-01").await;
    // More women whose reminders go out this morning, for the charts.
    for i in 0..12 {
        t.enroll(&format!("示例{i}"), &format!("1390000{i:04}"), "2026-09-22")
            .await;
    }
    t.tick().await;
    let step = t.step_id("checkup-reminders", "before-3d").await;

    let d = start_driver().await;
    let c = browser(&d).await;
    sign_in_as_admin(&c, &t).await;

    c.goto(&t.url("/campaigns/checkup-reminders"))
        .await
        .unwrap();
    let area = format!("#body-{step}-zh-CN");
    let preview = format!("#preview-{step}-zh-CN");
    let meter = format!("#preview-{step}-zh-CN-meter");
    // The saved text, previewed as the page opens: a long Chinese text.
    until("the first preview", || async {
        text_of(&c, &preview).await.contains("王秀英")
    })
    .await;
    let parts = || async {
        c.find(Locator::Css(&meter))
            .await
            .unwrap()
            .attr("data-parts")
            .await
            .unwrap()
            .unwrap_or_default()
    };
    assert_eq!(parts().await, "1", "the default text fits one SMS");
    shot(&c, "campaign-editor").await;

    // She adds a sentence: over 70 characters, two SMS parts, as she types.
    type_into(
        &c,
        &area,
        "{{ name }}您好，您的{{ contact }}时间为{{ date }}（{{ weekday }}）至{{ date_by }}，地点{{ clinic }}，免费。请带母子健康手册和医保卡。如不能按时前来，请回复告知村医。回复1确认，TD退订",
    )
    .await;
    until("two SMS parts", || async { parts().await == "2" }).await;
    // She shortens it: preview and part count follow.
    type_into(
        &c,
        &area,
        "{{ name }}您好，{{ date }}请来{{ clinic }}产检。",
    )
    .await;
    until("the new preview", || async {
        text_of(&c, &preview).await == "王秀英您好，4月23日请来城关镇卫生院产检。"
    })
    .await;
    until("one SMS part", || async { parts().await == "1" }).await;

    // A mistyped variable: the preview says so, and saving is refused
    // with the error beside the field.
    type_into(&c, &area, "{{ nmae }}您好").await;
    until("the preview's error", || async {
        text_of(&c, &preview).await.contains("nmae")
    })
    .await;
    c.find(Locator::Css(&format!(
        "#step-{step} form[data-language=zh-CN] button[type=submit]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    until("the error beside the field", || async {
        text_of(&c, ".field-error").await.contains("nmae")
    })
    .await;
    shot(&c, "campaign-editor-error").await;

    // Fixed and published.
    type_into(
        &c,
        &area,
        "{{ name }}您好，{{ date }}请来{{ clinic }}产检。",
    )
    .await;
    c.find(Locator::Css(&format!(
        "#step-{step} form[data-language=zh-CN] button[type=submit]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    until("saved", || async { !text_of(&c, "p.ok").await.is_empty() }).await;

    // The planned message goes out with the new text, and the message log shows it.
    t.at("2026-12-12 09:00");
    t.tick().await;
    c.goto(&t.url("/messages")).await.unwrap();
    until("the sent message", || async {
        c.source()
            .await
            .unwrap()
            .contains("王秀英您好，12月15日请来乡镇卫生院产检。")
    })
    .await;
    shot(&c, "messages").await;
    c.goto(&t.url("/worklist")).await.unwrap();
    shot(&c, "worklist").await;
    c.goto(&t.url("/")).await.unwrap();
    shot(&c, "dashboard").await;
    c.goto(&t.url("/indicators")).await.unwrap();
    let h1 = text_of(&c, "h1").await;
    assert!(h1.contains("考核指标") || h1.contains("Indicators"), "{h1}");
    shot(&c, "indicators").await;

    // The county's own files, uploaded as an office would: a workbook made
    // by a spreadsheet library (dates stored as Excel dates, phone numbers
    // as numbers) and a CSV saved by Excel on Chinese Windows (GBK).
    let files = tempfile::tempdir().unwrap();
    let xlsx = files.path().join("花名册.xlsx");
    {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut wb = Workbook::new();
        let sheet = wb.add_worksheet();
        let date = Format::new().set_num_format("yyyy\"年\"m\"月\"d\"日\"");
        for (c, h) in ["姓名", "手机号", "末次月经", "村", "知情同意"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        for (r, (name, phone)) in [("表格一", 13800001001.0), ("表格二", 139.0)]
            .iter()
            .enumerate()
        {
            let r = r as u32 + 1;
            sheet.write_string(r, 0, *name).unwrap();
            sheet.write_number(r, 1, *phone).unwrap();
            let when = ExcelDateTime::from_ymd(2026, 10, 1).unwrap();
            sheet
                .write_datetime_with_format(r, 2, &when, &date)
                .unwrap();
            sheet.write_string(r, 3, "V001").unwrap();
            sheet.write_string(r, 4, "是").unwrap();
        }
        wb.save(&xlsx).unwrap();
    }
    let gbk = files.path().join("roster-gbk.csv");
    let (bytes, _, unmappable) = encoding_rs::GBK
        .encode("姓名,手机号,末次月经,村,知情同意\r\n赵国标,13800001002,2026年10月1日,V001,是\r\n");
    assert!(!unmappable);
    std::fs::write(&gbk, &bytes).unwrap();
    // The workbook's bad number is refused with its row; the rest imported.
    for (file, expect) in [(&xlsx, "未导入 1"), (&gbk, "未导入 0")] {
        c.goto(&t.url("/import")).await.unwrap();
        c.find(Locator::Css("input[type=file]"))
            .await
            .unwrap()
            .send_keys(file.to_str().unwrap())
            .await
            .unwrap();
        c.find(Locator::Css("form[action='/import'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(expect, || async {
            let html = c.source().await.unwrap();
            html.contains("新登记 1") && html.contains(expect)
        })
        .await;
    }
    assert_eq!(women_named(&t, "表格一").await.len(), 1);
    assert_eq!(
        women_named(&t, "赵国标").await.len(),
        1,
        "GBK read as Chinese"
    );
    assert!(women_named(&t, "表格二").await.is_empty());

    // At a phone's width (360 px): the lists, her page, the broadcast form,
    // the logs and the printed round fit without scrolling sideways.
    c.set_window_size(360, 800).await.unwrap();
    let w = women_named(&t, "王秀英").await[0].id;
    for (path, name, expect) in [
        ("/women".to_string(), "women-phone", "共 16"),
        (format!("/women/{w}"), "woman-phone", "下次访视"),
        ("/broadcasts".to_string(), "broadcasts-phone", "新建群发"),
        ("/worklist".to_string(), "worklist-phone", "工作清单"),
        ("/".to_string(), "dashboard-phone", "概览"),
        ("/messages".to_string(), "messages-phone", "消息"),
        ("/audit".to_string(), "audit-phone", "操作记录"),
        ("/import".to_string(), "import-phone", "导入花名册"),
        (
            "/worklist/print?village=V001".to_string(),
            "round-phone",
            "走访清单",
        ),
    ] {
        c.goto(&t.url(&path)).await.unwrap();
        until(expect, || async {
            c.source().await.unwrap().contains(expect)
        })
        .await;
        // Every folded form open (record a visit, a birth, dates), as an
        // officer at the door would have it.
        c.execute(
            "document.querySelectorAll('details').forEach(function (d) { d.open = true; })",
            vec![],
        )
        .await
        .unwrap();
        let (page, viewport) = (
            c.execute("return document.documentElement.scrollWidth", vec![])
                .await
                .unwrap(),
            c.execute("return window.innerWidth", vec![]).await.unwrap(),
        );
        assert!(
            page.as_f64().unwrap() <= viewport.as_f64().unwrap() + 1.0,
            "{path} scrolls sideways at 360 px: {page} > {viewport}"
        );
        shot(&c, name).await;
    }
    c.close().await.unwrap();
}

/// Every form of every console page, submitted as Chromium submits it:
/// `new FormData(form, submitter)` is the browser's own entry list
/// (HTML "constructing the entry list": every field, an empty text, date
/// or number input as `name=`, an empty file input as an empty file).
/// Issue 34: the message log's filter with its dates left empty answered a
/// bare 400 ("Failed to deserialize query string: from: premature end of
/// input"), and so did its next-page and CSV links.
const SUBMIT_EVERY_FORM: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const out = [];
  const forms = [...document.querySelectorAll('form')]
    .filter(f => !/^\/(logout|language)$/.test(f.getAttribute('action') || ''));
  for (const f of forms) {
    const action = f.getAttribute('action') || location.pathname;
    const method = (f.getAttribute('method') || 'get').toLowerCase();
    const submitter = [...f.querySelectorAll('button, input[type=submit]')]
      .find(b => (b.getAttribute('type') || 'submit') === 'submit');
    let data;
    try { data = new FormData(f, submitter); } catch (e) { data = new FormData(f); }
    const init = { credentials: 'same-origin', redirect: 'manual' };
    let url = action;
    if (method === 'get') {
      url = action + '?' + new URLSearchParams(data);
    } else {
      init.method = 'POST';
      init.body = f.enctype === 'multipart/form-data' ? data : new URLSearchParams(data);
    }
    const r = await fetch(url, init);
    const redirected = r.type === 'opaqueredirect';
    out.push([method, url, redirected ? 303 : r.status, redirected ? '' : await r.text()]);
  }
  return out;
})().then(done, e => done([['error', String(e), 0, '']]));
"#;

#[tokio::test]
async fn every_console_form_and_filter_submitted_empty_in_chromium_answers_a_chinese_page() {
    let t = spawn_app_with(|_| {}, "2026-12-12 08:30").await;
    add_admin(&t).await;
    let woman = t
        .enroll("王秀英", "13812345678", "2026-09-22")
        .await
        .woman_id();
    t.tick().await;

    let d = start_driver().await;
    let c = browser(&d).await;
    sign_in_as_admin(&c, &t).await;

    let english: Vec<String> = crate::console::catalogue("en")
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| v.chars().any(|c| c.is_ascii_alphabetic()) && v.len() > 3)
        .collect();
    let pages = [
        "/".to_string(),
        "/women".into(),
        format!("/women/{woman}"),
        "/women/new".into(),
        "/worklist".into(),
        "/worklist/print".into(),
        "/messages".into(),
        "/audit".into(),
        "/indicators".into(),
        "/indicators/officers".into(),
        "/reports/quarterly".into(),
        "/campaigns".into(),
        "/campaigns/checkup-reminders".into(),
        "/broadcasts".into(),
        "/import".into(),
        "/registers".into(),
    ];
    let mut submitted = 0;
    let mut wrong = Vec::new();
    for page in &pages {
        c.goto(&t.url(page)).await.unwrap();
        let answers = c.execute_async(SUBMIT_EVERY_FORM, vec![]).await.unwrap();
        for a in answers.as_array().unwrap() {
            let (method, url) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
            let status = a[2].as_u64().unwrap();
            let body = a[3].as_str().unwrap();
            submitted += 1;
            let is_page = body.contains("<html") && body.contains("lang=\"zh");
            if method == "get" {
                // A filter left empty is the whole list: a page, in Chinese.
                if status != 200 || !is_page {
                    wrong.push(format!("{page}: GET {url} answered {status}: {body:.200}"));
                    continue;
                }
                let text = crate::console::visible_text(body);
                for w in &english {
                    if crate::console::holds_word(&text, w) {
                        wrong.push(format!("{page}: GET {url} shows English {w:?}"));
                    }
                }
            } else if !(status == 303
                || (200..300).contains(&status)
                // A refusal of what was left out, on the form's own page.
                || (status == 422 && is_page))
            {
                wrong.push(format!("{page}: POST {url} answered {status}: {body:.200}"));
            } else if is_page {
                // Its reason in Chinese too (refusals were English).
                let text = crate::console::visible_text(body);
                for w in &english {
                    if crate::console::holds_word(&text, w) {
                        wrong.push(format!("{page}: POST {url} shows English {w:?}"));
                    }
                }
                if let Some(alert) = body.split("role=\"alert\">").nth(1) {
                    let alert = &alert[..alert.find('<').unwrap_or(alert.len())];
                    if alert.contains("未能完成") {
                        wrong.push(format!("{page}: POST {url} refused in English: {alert}"));
                    }
                }
            }
        }
    }
    // The next-page and CSV links of a list filtered with its fields left
    // empty carry those empty fields along: each answers too.
    for page in ["/messages", "/audit", "/women"] {
        c.goto(&t.url(page)).await.unwrap();
        c.find(Locator::Css("form[method=get] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until("the filtered list", || async {
            c.current_url().await.unwrap().query().is_some()
        })
        .await;
        let links = c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                (async () => {
                  const out = [];
                  for (const a of document.querySelectorAll('main a[href*="?"], a[href$=".csv"], a[href*=".csv?"]')) {
                    const r = await fetch(a.getAttribute('href'), { credentials: 'same-origin' });
                    out.push([a.getAttribute('href'), r.status]);
                  }
                  return out;
                })().then(done, e => done([[String(e), 0]]));"#,
                vec![],
            )
            .await
            .unwrap();
        if page == "/messages" {
            // Issue 34: the status column broke one character per line.
            // Each status is one line box (a Range's client rects), even
            // at a phone's width.
            c.set_window_size(390, 844).await.unwrap();
            let lines = c
                .execute(
                    r#"return [...document.querySelectorAll('td[class^="status-"]')].map(td => {
                         const r = document.createRange(); r.selectNodeContents(td);
                         return r.getClientRects().length; });"#,
                    vec![],
                )
                .await
                .unwrap();
            let lines: Vec<u64> = serde_json::from_value(lines).unwrap();
            assert!(!lines.is_empty(), "the log lists messages");
            assert!(lines.iter().all(|&n| n == 1), "status lines: {lines:?}");
            c.set_window_size(1100, 900).await.unwrap();
        }
        for l in links.as_array().unwrap() {
            submitted += 1;
            if l[1].as_u64() != Some(200) {
                wrong.push(format!("{page}: link {} answered {}", l[0], l[1]));
            }
        }
    }
    assert!(submitted >= 20, "only {submitted} forms were found");
    assert!(wrong.is_empty(), "{wrong:#?}");
}
