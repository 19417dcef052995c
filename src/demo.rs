//! Demo data: invented women at many stages of pregnancy, chosen so that
//! reminders fall due within the first minute of an accelerated morning,
//! with the week-by-week series on and a broadcast at 09:30.

use crate::app::{App, AppError};
use crate::domain::Role;
use crate::domain::{Phone, PregnancyDates};
use crate::store::{Consent, NewEnrollment};
use chrono::{Duration, NaiveDate};

/// How much faster than real time the demo clock runs: a minute shows two hours.
pub const DEMO_SPEED: u32 = 120;
/// Local time the demo morning starts at: messages due at 08:00 go out at once.
pub const DEMO_START: &str = "07:58";

/// Invented names of the demo women.
pub const NAMES: &[&str] = &[
    "王秀英",
    "李桂兰",
    "张玉梅",
    "刘丽",
    "陈静",
    "杨敏",
    "黄燕",
    "赵芳",
    "吴娟",
    "周霞",
    "徐红",
    "孙艳",
    "马丹",
    "朱萍",
    "胡琳",
    "郭雪",
    "何婷",
    "高慧",
    "林佳",
    "罗欣",
];

/// Seeds the demo cohort and returns how many women were registered.
pub async fn seed(app: &App) -> Result<usize, AppError> {
    let now = app.clock.now();
    let today = crate::domain::schedule::local_date(app.config.timezone, now);
    let plan = app.store.plan(&app.config.care_plan).await?;
    let mut rows = vec![];
    let mut n = 0usize;
    // (days from today to a visit's due date, women) for the 2nd check-up
    // (due at 16 weeks): due today -> 08:00 reminder; in 3 days -> 09:00.
    // Then women whose 1st check-up window closed 2 days ago -> 10:00 follow-up,
    // and women spread over the rest of pregnancy for the days after.
    let mut cohort: Vec<(NaiveDate, &str)> = vec![];
    for i in 0..6 {
        cohort.push((
            today - Duration::days(112),
            if i % 3 == 2 { "en" } else { "zh-CN" },
        ));
        cohort.push((today - Duration::days(112 - 3), "zh-CN"));
    }
    for _ in 0..4 {
        cohort.push((today - Duration::days(90 + 2), "zh-CN"));
    }
    for k in 0..20 {
        cohort.push((
            today - Duration::days(50 + k * 11),
            if k % 5 == 0 { "en" } else { "zh-CN" },
        ));
    }
    for (lmp, lang) in cohort {
        n += 1;
        let dates = PregnancyDates::from_lmp(lmp);
        // Registered a month ago, so visits whose windows closed since are known.
        let registered_on = (today - Duration::days(30)).max(lmp + Duration::days(14));
        let consent = (n % 9 != 0).then(|| Consent {
            at: now,
            source: "demo".into(),
            by: "demo".into(),
        });
        rows.push(NewEnrollment {
            name: format!("{}{}", NAMES[n % NAMES.len()], n),
            phone: Phone::parse(&format!("1390000{:04}", n), app.config.region())
                .expect("demo phone"),
            wechat_openid: None,
            language: lang.parse().expect("a demo language"),
            village: Some(format!("V{:03}", 1 + n % 4)),
            officer_code: Some(format!("V{:03}-O1", 1 + n % 4)),
            consent,
            visits: plan.prenatal_visits(&dates, registered_on),
            dates,
            care_plan: plan.key.clone(),
            registered_on,
            id_card: None,
        });
    }
    let count = rows.len();
    app.care.enroll_many(&rows).await?;
    for v in 1..=4 {
        let code = format!("V{v:03}-O1");
        app.store
            .add_staff(
                &crate::store::NewStaff {
                    code,
                    name: format!("村医{v}"),
                    phone: Some(
                        Phone::parse(&format!("1370000{v:04}"), app.config.region())
                            .expect("demo phone"),
                    ),
                    role: Role::Officer,
                    language: crate::domain::Language::ZhCn,
                    village: Some(format!("V{v:03}")),
                    township: Some(if v <= 2 { "T01" } else { "T02" }.into()),
                    wecom_userid: None,
                },
                now,
            )
            .await?;
    }
    // Outreach: the week-by-week series on, and a broadcast at 09:30 to
    // two villages, so the console shows both kinds of message.
    app.store
        .set_campaign_status(crate::services::defaults::SERIES_CAMPAIGN, "active", now)
        .await?;
    let tz = app.config.timezone;
    let at = crate::domain::schedule::local_to_utc(
        tz,
        today.and_time(chrono::NaiveTime::from_hms_opt(9, 30, 0).expect("time")),
    );
    let demo = crate::services::broadcasts::NewBroadcast {
        name: "Free check-ups on Tuesdays".into(),
        audience: crate::store::Audience {
            villages: vec!["V001".into(), "V002".into()],
            ..Default::default()
        },
        texts: [
            ("zh-CN".to_string(), "{{ clinic }}每周二上午有免费产前检查，请带母子健康手册。回复TD退订".to_string()),
            ("en".to_string(), "Free prenatal check-ups at {{ clinic }} every Tuesday morning; bring your handbook. Reply STOP to opt out.".to_string()),
        ]
        .into_iter()
        .collect(),
        send_at: at,
        cron: None,
        grace_hours: None,
        sms_templates: vec![],
    };
    let (id, _) = app.broadcasts.create(&demo, "demo").await?;
    app.broadcasts.publish(id, "demo").await?;
    Ok(count)
}

/// Replies the demo women send once their first reminders are out:
/// (demo woman number, text).
pub const DEMO_REPLIES: &[(usize, &str)] = &[
    (1, "1"),
    (3, "我周一去不了，可以周三去吗？"),
    (5, "TD"),
    (7, "帮助"),
];

/// Plays the demo replies through the same path a gateway's webhook takes.
/// Console accounts for the demo: an administrator, a supervisor of
/// township T01 and the officer of V001, each with a fresh password.
/// Returns (code, role, password) to print.
pub async fn accounts(app: &App) -> Result<Vec<(String, Role, String)>, AppError> {
    let now = app.clock.now();
    for (code, name, role, township) in [
        ("admin", "县管理员", Role::Admin, None),
        ("T01-S", "镇妇幼专干", Role::Supervisor, Some("T01")),
    ] {
        app.store
            .add_staff(
                &crate::store::NewStaff {
                    code: code.into(),
                    name: name.into(),
                    phone: None,
                    role,
                    language: crate::domain::Language::ZhCn,
                    village: None,
                    township: township.map(str::to_string),
                    wecom_userid: None,
                },
                now,
            )
            .await?;
    }
    let mut out = vec![];
    for code in ["admin", "T01-S", "V001-O1"] {
        let password = crate::services::access::new_password();
        let s = app
            .store
            .staff_by_code(code)
            .await?
            .ok_or_else(|| AppError::Refused(format!("no staff {code}")))?;
        let hash = crate::services::access::hash_password(&password).map_err(AppError::Config)?;
        app.store.set_password(s.id, &hash, now).await?;
        out.push((code.to_string(), s.role, password));
    }
    Ok(out)
}

pub async fn play_replies(app: &App) -> Result<(), AppError> {
    for (n, text) in DEMO_REPLIES {
        let from =
            Phone::parse(&format!("1390000{n:04}"), app.config.region()).expect("demo phone");
        println!("[mock sms in] from {}: {text}", from.masked());
        let now = app.clock.now();
        let r = app
            .inbound
            .receive(crate::store::NewInbound {
                gateway: "mock".into(),
                provider_id: format!("demo-{n}"),
                sender: from.as_str().to_string(),
                text: text.to_string(),
                received_at: now,
            })
            .await?;
        if let Some(id) = r.inbound_id {
            let m = app.store.inbound(id).await?;
            println!(
                "             -> {}: {}",
                m.intent.unwrap_or_default(),
                m.outcome.unwrap_or_default()
            );
        }
    }
    Ok(())
}
