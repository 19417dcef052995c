//! Message templates: Tera, no HTML escaping (this is SMS), validated when
//! saved by rendering them against a sample context, so a syntax error or
//! an unknown variable is refused then and never at send time.

use crate::domain::delivery::{TemplateMessage, FIELD_MAX_CHARS};
use crate::domain::sms_template::{bracketed, fill, fit_value, variables, FilledTemplate};
use crate::domain::{GatewayKind, Language};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::HashSet;
use tera::{Context, Tera};

/// Languages messages can be written in.
pub const LANGUAGES: &[&str] = Language::CODES;
/// Used when a step has no text in a woman's language.
pub const FALLBACK_LANGUAGE: &str = Language::FALLBACK.as_str();

#[derive(Debug, Clone)]
pub struct StepText {
    pub step_id: i64,
    pub language: String,
    pub body: String,
}

/// A step's WeChat template message: its fields are Tera templates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WechatVariant {
    #[serde(default)]
    pub step_id: i64,
    pub template_id: String,
    #[serde(default)]
    pub url: Option<String>,
    /// Keyword and template, in the template's order.
    pub fields: Vec<(String, String)>,
}

/// A step's approved cloud-SMS template for one provider (Aliyun,
/// Tencent Cloud): the template's code, its content as the provider
/// approved it, and a Tera template for each of its variables.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsVariant {
    #[serde(default)]
    pub step_id: i64,
    pub provider: GatewayKind,
    /// The provider's template code (`SMS_123456789`, `1234567`).
    pub code: String,
    /// The approved content: `${name}` (Aliyun) or `{1}` (Tencent) variables.
    pub content: String,
    /// Variable and template, in the content's order.
    pub params: Vec<(String, String)>,
    /// A marketing (推广) template: carries the provider's opt-out words.
    #[serde(default)]
    pub promotional: bool,
}

/// What a provider account allows, for checking a template against it.
#[derive(Debug, Clone)]
pub struct SmsRules {
    /// The gateway's name, for messages.
    pub gateway: String,
    /// The approved signature, printed before every text.
    pub sign_name: String,
    /// The longest value one variable may take.
    pub max_variable_chars: usize,
    /// The longest message, in SMS parts (signature included).
    pub max_parts: usize,
    /// Words a promotional text must carry ("拒收请回复R").
    pub opt_out_notice: String,
}

/// The variables a message template may use.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MessageContext {
    /// The woman's name as registered.
    pub name: String,
    /// Where to go.
    pub clinic: String,
    /// Which check-up, in plain words ("第2次产前检查").
    pub contact: String,
    /// The day the check-up is due, written for the language ("4月23日").
    pub date: String,
    /// Its weekday ("星期四").
    pub weekday: String,
    /// The last day of the check-up's window.
    pub date_by: String,
    /// Days from today to the due date (negative once past).
    pub days_until: i64,
    /// Completed weeks of pregnancy today.
    pub weeks: i64,
    /// Her officer comes to her home for this visit (after the birth).
    pub home_visit: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template error: {0}")]
    Template(String),
    #[error("no text for step {0}")]
    Missing(i64),
    #[error("unknown language {0:?}: use one of zh-CN, en")]
    Language(String),
    #[error("text is empty")]
    Empty,
    /// A text to her may not carry her risk grade, by any name.
    #[error(
        "`{0}`: her risk grade is for her care team only and is never written into a text to her"
    )]
    Private(String),
}

/// The first variable of a template's tags (`{{ }}`, `{% %}`) that would
/// carry her risk grade, if any (`domain::risk::FORBIDDEN_VARIABLES`).
fn private_variable(body: &str) -> Option<String> {
    let mut rest = body;
    while let Some(i) = rest.find(['{']) {
        rest = &rest[i + 1..];
        let close = match rest.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            _ => continue,
        };
        let Some(end) = rest.find(close) else { break };
        let tag = &rest[1..end];
        for word in tag.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            let w = word.to_lowercase();
            if crate::domain::risk::FORBIDDEN_VARIABLES.contains(&w.as_str()) {
                return Some(word.to_string());
            }
        }
        rest = &rest[end..];
    }
    None
}

fn tera_error(e: tera::Error) -> RenderError {
    // Tera nests the useful part ("Variable `nmae` not found") in its source chain.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    RenderError::Template(msg)
}

/// All step texts compiled once; rebuilt when a text changes.
pub struct Renderer {
    tera: Tera,
    present: HashSet<(i64, String)>,
    /// Steps' WeChat template messages; their fields are compiled in `tera`.
    wechat: std::collections::HashMap<i64, WechatVariant>,
    /// Steps' cloud-SMS templates by provider; their variables are compiled in `tera`.
    sms: std::collections::HashMap<(i64, GatewayKind), SmsVariant>,
}

fn sms_param_name(step_id: i64, provider: GatewayKind, index: usize) -> String {
    format!("sms-{step_id}-{}-{index}", provider.as_str())
}

fn template_name(step_id: i64, language: &str) -> String {
    format!("step-{step_id}-{language}")
}

fn field_name(step_id: i64, index: usize) -> String {
    format!("wechat-{step_id}-{index}")
}

/// One line of at most 20 characters.
fn fit_field(s: &str) -> String {
    let one_line = tidy(s).split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= FIELD_MAX_CHARS {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(FIELD_MAX_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// Why a WeChat variant was refused, naming the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct WechatVariantError {
    pub field: String,
    pub reason: String,
}

/// Checks a WeChat variant before it is saved, against WeChat's 2023 rules:
/// a template id, plain keywords, and fields that compile, use only known
/// variables and render, for the sample woman, to at most 20 characters
/// with no line break. Template messages are written in Chinese (the
/// account's templates are), whatever her language for SMS.
pub fn validate_wechat(v: &WechatVariant) -> Result<(), WechatVariantError> {
    let err = |field: &str, reason: String| WechatVariantError {
        field: field.to_string(),
        reason,
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !plain(&v.template_id) {
        return Err(err(
            "template_id",
            "must be the account's template id (letters, digits, _ and -)".into(),
        ));
    }
    if let Some(u) = &v.url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(err("url", "must be an http(s) link".into()));
        }
    }
    if v.fields.is_empty() {
        return Err(err(
            "fields",
            "a template message needs at least one field".into(),
        ));
    }
    let mut seen = HashSet::new();
    for (key, body) in &v.fields {
        if !plain(key) || key.contains('-') {
            return Err(err(
                key,
                "keyword must be the template's field name, such as thing1 or time2".into(),
            ));
        }
        if !seen.insert(key.as_str()) {
            return Err(err(key, "appears twice".into()));
        }
        if body.contains('\n') || body.contains('\r') {
            return Err(err(
                key,
                "no line breaks: WeChat shows each field on one line".into(),
            ));
        }
        let lang = FALLBACK_LANGUAGE;
        let out = render_one(body, &sample_context(lang)).map_err(|e| err(key, e.to_string()))?;
        if out.is_empty() {
            return Err(err(key, format!("renders empty for the {lang} sample")));
        }
        if out.contains('\n') || out.contains('\r') {
            return Err(err(
                key,
                format!("renders a line break for the {lang} sample"),
            ));
        }
        let n = out.chars().count();
        if n > FIELD_MAX_CHARS {
            return Err(err(
                key,
                format!(
                    "{n} characters for the {lang} sample ({out:?}): WeChat takes at most {FIELD_MAX_CHARS}"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a cloud-SMS template before it is saved: a code, every
/// variable of the approved content mapped (and nothing else), each
/// variable rendering for the sample woman (a check-up at the clinic and a
/// home visit) to one non-empty line within the provider's limit, the
/// signature and the filled content within the gateway's SMS parts, and a
/// promotional template carrying the opt-out words. `promotional_step`: the
/// step is outreach (a series, a broadcast), so its template must be
/// promotional. Returns the sample text she would read.
pub fn validate_sms(
    v: &SmsVariant,
    rules: &SmsRules,
    promotional_step: bool,
) -> Result<String, WechatVariantError> {
    let err = |field: &str, reason: String| WechatVariantError {
        field: field.to_string(),
        reason,
    };
    let code = v.code.trim();
    if code.is_empty()
        || code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(err(
            "code",
            format!(
                "must be the template code {} approved (letters, digits and _)",
                v.provider.as_str()
            ),
        ));
    }
    if v.content.trim().is_empty() {
        return Err(err(
            "content",
            "give the template's content exactly as the provider approved it".into(),
        ));
    }
    let wanted = variables(v.provider, &v.content);
    for w in &wanted {
        if !v.params.iter().any(|(k, _)| k == w) {
            return Err(err(
                w,
                format!(
                    "the approved content uses {} but it is not mapped to a careminder variable",
                    placeholder(v.provider, w)
                ),
            ));
        }
    }
    let mut seen = HashSet::new();
    for (key, _) in &v.params {
        if !wanted.contains(key) {
            return Err(err(
                key,
                format!(
                    "not a variable of the approved content (it has {})",
                    if wanted.is_empty() {
                        "none".to_string()
                    } else {
                        wanted
                            .iter()
                            .map(|w| placeholder(v.provider, w))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ));
        }
        if !seen.insert(key.as_str()) {
            return Err(err(key, "appears twice".into()));
        }
    }
    if promotional_step && !v.promotional {
        return Err(err(
            "promotional",
            "this step is outreach (a series or a broadcast): it needs a promotional (推广) template".into(),
        ));
    }
    if v.promotional && !v.content.contains(rules.opt_out_notice.trim()) {
        return Err(err(
            "content",
            format!(
                "a promotional template must carry the opt-out words {:?}",
                rules.opt_out_notice.trim()
            ),
        ));
    }
    let lang = FALLBACK_LANGUAGE;
    let mut sample = String::new();
    for ctx in [
        sample_context(lang),
        MessageContext {
            home_visit: true,
            ..sample_context(lang)
        },
    ] {
        let mut params = vec![];
        for (key, body) in &v.params {
            let out = render_one(body, &ctx).map_err(|e| err(key, e.to_string()))?;
            let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
            if out.is_empty() {
                return Err(err(key, format!("renders empty for the {lang} sample")));
            }
            let n = out.chars().count();
            if n > rules.max_variable_chars {
                return Err(err(
                    key,
                    format!(
                        "{n} characters for the {lang} sample ({out:?}): {} takes at most {} per variable",
                        rules.gateway, rules.max_variable_chars
                    ),
                ));
            }
            params.push((key.clone(), out));
        }
        let text = format!(
            "{}{}",
            bracketed(&rules.sign_name),
            fill(v.provider, &v.content, &params)
        );
        let m = crate::domain::sms::measure(&text);
        if m.parts > rules.max_parts {
            return Err(err(
                "content",
                format!(
                    "{} characters with the signature for the sample ({} SMS parts): {} takes at most {}",
                    m.units, m.parts, rules.gateway, rules.max_parts
                ),
            ));
        }
        if sample.is_empty() {
            sample = text;
        }
    }
    Ok(sample)
}

fn placeholder(kind: GatewayKind, name: &str) -> String {
    match kind {
        GatewayKind::Tencent => format!("{{{name}}}"),
        _ => format!("${{{name}}}"),
    }
}

fn engine() -> Tera {
    let mut t = Tera::default();
    t.autoescape_on(vec![]);
    t
}

impl Renderer {
    /// Compiles every text. A text that does not compile (only possible if
    /// the database was edited by hand) is left out and reported.
    pub fn new(
        texts: &[StepText],
        variants: &[WechatVariant],
        sms_variants: &[SmsVariant],
    ) -> (Self, Vec<(i64, String, RenderError)>) {
        let mut tera = engine();
        let mut present = HashSet::new();
        let mut broken = vec![];
        for t in texts {
            match tera.add_raw_template(&template_name(t.step_id, &t.language), &t.body) {
                Ok(()) => {
                    present.insert((t.step_id, t.language.clone()));
                }
                Err(e) => broken.push((t.step_id, t.language.clone(), tera_error(e))),
            }
        }
        let mut wechat = std::collections::HashMap::new();
        'variants: for v in variants {
            for (i, (key, body)) in v.fields.iter().enumerate() {
                if let Err(e) = tera.add_raw_template(&field_name(v.step_id, i), body) {
                    broken.push((v.step_id, format!("wechat {key}"), tera_error(e)));
                    continue 'variants;
                }
            }
            wechat.insert(v.step_id, v.clone());
        }
        let mut sms = std::collections::HashMap::new();
        'sms: for v in sms_variants {
            for (i, (key, body)) in v.params.iter().enumerate() {
                if let Err(e) =
                    tera.add_raw_template(&sms_param_name(v.step_id, v.provider, i), body)
                {
                    broken.push((
                        v.step_id,
                        format!("{} {key}", v.provider.as_str()),
                        tera_error(e),
                    ));
                    continue 'sms;
                }
            }
            sms.insert((v.step_id, v.provider), v.clone());
        }
        (
            Self {
                tera,
                present,
                wechat,
                sms,
            },
            broken,
        )
    }

    /// Step `step_id` as the approved template of `provider`, when it has
    /// one, filled for one woman: each value on one line and cut to the
    /// provider's limit.
    pub fn render_sms(
        &self,
        step_id: i64,
        provider: GatewayKind,
        sign_name: &str,
        max_variable_chars: usize,
        ctx: &MessageContext,
    ) -> Option<Result<FilledTemplate, RenderError>> {
        let v = self.sms.get(&(step_id, provider))?;
        let ctx = match Context::from_serialize(ctx) {
            Ok(c) => c,
            Err(e) => return Some(Err(tera_error(e))),
        };
        let mut params = Vec::with_capacity(v.params.len());
        for (i, (key, _)) in v.params.iter().enumerate() {
            match self
                .tera
                .render(&sms_param_name(step_id, provider, i), &ctx)
            {
                Ok(out) => params.push((key.clone(), fit_value(&out, max_variable_chars))),
                Err(e) => return Some(Err(tera_error(e))),
            }
        }
        let text = format!(
            "{}{}",
            bracketed(sign_name),
            fill(provider, &v.content, &params)
        );
        Some(Ok(FilledTemplate {
            code: v.code.clone(),
            params,
            text,
        }))
    }

    /// Step `step_id` as a WeChat template message, when it has one.
    /// Values longer than WeChat allows are shortened, line breaks joined.
    pub fn render_wechat(
        &self,
        step_id: i64,
        ctx: &MessageContext,
    ) -> Option<Result<TemplateMessage, RenderError>> {
        let v = self.wechat.get(&step_id)?;
        let ctx = match Context::from_serialize(ctx) {
            Ok(c) => c,
            Err(e) => return Some(Err(tera_error(e))),
        };
        let mut data = Vec::with_capacity(v.fields.len());
        for (i, (key, _)) in v.fields.iter().enumerate() {
            match self.tera.render(&field_name(step_id, i), &ctx) {
                Ok(out) => data.push((key.clone(), fit_field(&out))),
                Err(e) => return Some(Err(tera_error(e))),
            }
        }
        Some(Ok(TemplateMessage {
            template_id: v.template_id.clone(),
            url: v.url.clone(),
            data,
        }))
    }

    /// Renders step `step_id` in `language`, falling back to Chinese.
    pub fn render(
        &self,
        step_id: i64,
        language: &str,
        ctx: &MessageContext,
    ) -> Result<String, RenderError> {
        let lang = if self.present.contains(&(step_id, language.to_string())) {
            language
        } else if self
            .present
            .contains(&(step_id, FALLBACK_LANGUAGE.to_string()))
        {
            FALLBACK_LANGUAGE
        } else {
            return Err(RenderError::Missing(step_id));
        };
        let ctx = Context::from_serialize(ctx).map_err(tera_error)?;
        let out = self
            .tera
            .render(&template_name(step_id, lang), &ctx)
            .map_err(tera_error)?;
        Ok(tidy(&out))
    }
}

/// Collapses the blank runs templates leave behind; SMS has no room for them.
fn tidy(s: &str) -> String {
    s.trim().to_string()
}

/// Checks a text before it is saved: it must compile and render against a
/// sample context that has exactly the variables messages have.
pub fn validate(body: &str, language: &str) -> Result<String, RenderError> {
    if !LANGUAGES.contains(&language) {
        return Err(RenderError::Language(language.to_string()));
    }
    if body.trim().is_empty() {
        return Err(RenderError::Empty);
    }
    if let Some(v) = private_variable(body) {
        return Err(RenderError::Private(v));
    }
    let mut tera = engine();
    tera.add_raw_template("t", body).map_err(tera_error)?;
    // Both sides of a home-visit branch must render: a clinic check-up
    // and a visit her officer makes at home.
    let home = MessageContext {
        home_visit: true,
        ..sample_context(language)
    };
    let ctx = Context::from_serialize(&home).map_err(tera_error)?;
    tera.render("t", &ctx).map_err(tera_error)?;
    let ctx = Context::from_serialize(sample_context(language)).map_err(tera_error)?;
    tera.render("t", &ctx).map(|s| tidy(&s)).map_err(tera_error)
}

/// Renders one text for one context (previews of texts not yet saved).
pub fn render_one(body: &str, ctx: &MessageContext) -> Result<String, RenderError> {
    if let Some(v) = private_variable(body) {
        return Err(RenderError::Private(v));
    }
    let mut tera = engine();
    tera.add_raw_template("t", body).map_err(tera_error)?;
    let ctx = Context::from_serialize(ctx).map_err(tera_error)?;
    tera.render("t", &ctx).map(|s| tidy(&s)).map_err(tera_error)
}

/// An invented woman, for previews and validation.
pub fn sample_context(language: &str) -> MessageContext {
    let due = NaiveDate::from_ymd_opt(2026, 4, 23).expect("date");
    let end = NaiveDate::from_ymd_opt(2026, 5, 27).expect("date");
    let zh = language != "en";
    MessageContext {
        name: if zh {
            "王秀英".into()
        } else {
            "Amina".into()
        },
        clinic: if zh {
            "城关镇卫生院".into()
        } else {
            "the township health centre".into()
        },
        contact: if zh {
            "第2次产前检查".into()
        } else {
            "second prenatal check-up".into()
        },
        date: format_date(due, language),
        weekday: weekday_name(due, language).into(),
        date_by: format_date(end, language),
        days_until: 3,
        weeks: 15,
        home_visit: false,
    }
}

pub fn format_date(d: NaiveDate, language: &str) -> String {
    if language == "en" {
        d.format("%-d %B").to_string()
    } else {
        format!("{}月{}日", d.month(), d.day())
    }
}

pub fn weekday_name(d: NaiveDate, language: &str) -> &'static str {
    let i = d.weekday().num_days_from_monday() as usize;
    let en = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let zh = [
        "星期一",
        "星期二",
        "星期三",
        "星期四",
        "星期五",
        "星期六",
        "星期日",
    ];
    if language == "en" {
        en[i]
    } else {
        zh[i]
    }
}

mod system;
pub use system::SystemTexts;
#[cfg(test)]
use system::SYSTEM_TEXTS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_that_would_carry_her_risk_grade_is_refused_by_name() {
        for body in [
            "{{ name }}，您的风险等级：{{ risk }}",
            "{% if grade == \"red\" %}请尽快就诊{% endif %}",
            "{{ Colour | upper }}",
            "{{ infections }}",
        ] {
            let e = validate(body, "zh-CN").unwrap_err();
            assert!(matches!(e, RenderError::Private(_)), "{body}: {e}");
            assert!(e.to_string().contains("care team only"), "{e}");
        }
        // Words of the same letters outside a tag are text, not a variable.
        assert!(validate("{{ name }}，请按时检查 (risk free)", "en").is_ok());
    }

    #[test]
    fn unknown_variable_is_refused_when_saved() {
        let err = validate("您好{{ nmae }}", "zh-CN").unwrap_err().to_string();
        assert!(err.contains("nmae"), "{err}");
    }

    #[test]
    fn syntax_error_is_refused_when_saved() {
        assert!(validate("Hello {{ name ", "en").is_err());
        assert!(validate("{% if %}", "en").is_err());
        assert!(validate("  ", "en").is_err());
        assert!(validate("hi", "fr").is_err());
    }

    #[test]
    fn no_html_escaping_in_sms() {
        let texts = vec![StepText {
            step_id: 1,
            language: "en".into(),
            body: "Hi {{ name }} & <{{ clinic }}>".into(),
        }];
        let (r, broken) = Renderer::new(&texts, &[], &[]);
        assert!(broken.is_empty());
        let mut ctx = sample_context("en");
        ctx.name = "A&B".into();
        assert_eq!(
            r.render(1, "en", &ctx).unwrap(),
            "Hi A&B & <the township health centre>"
        );
    }

    #[test]
    fn falls_back_to_chinese_text() {
        let texts = vec![StepText {
            step_id: 1,
            language: "zh-CN".into(),
            body: "{{ date }}（{{ weekday }}）".into(),
        }];
        let (r, _) = Renderer::new(&texts, &[], &[]);
        assert_eq!(
            r.render(1, "en", &sample_context("zh-CN")).unwrap(),
            "4月23日（星期四）"
        );
        assert!(r.render(2, "en", &sample_context("en")).is_err());
    }

    #[test]
    fn system_texts_render_in_both_languages_and_stay_short() {
        let t = SystemTexts::default();
        let ctx = serde_json::json!({"name": "王秀英", "code": "12", "contact": "第2次产前检查", "text": "我想问一下",
            "message": 7, "village": "V001", "days": 4, "part": 1, "parts": 2, "officer": "李医生", "from": "12-01",
            "to": "12-07", "sent": 10, "delivered": 9, "failed": 1, "on_time": 3, "late": 1, "overdue": 2,
            "registrations": 5, "stale": 2, "count": 12, "grade": "橙色", "reason": "颜色不认识", "task": "新生儿访视", "gateway": "wechat"});
        for name in SystemTexts::names() {
            for lang in LANGUAGES {
                let out = t.render(name, lang, &ctx);
                assert!(!out.is_empty(), "{name}/{lang}");
                assert!(
                    crate::domain::sms::measure(&out).parts <= 2,
                    "{name}/{lang}: {out}"
                );
            }
        }
    }

    /// Issue 34: her question ended the officer's text in doubled
    /// punctuation ("…可以周三去吗？。"). Her words are quoted as written.
    #[test]
    fn the_officer_reads_her_question_quoted_as_she_wrote_it() {
        let t = SystemTexts::default();
        let ctx = |text: &str| serde_json::json!({"name": "王秀英", "code": "12", "text": text});
        let zh = t.render("officer-question", "zh-CN", &ctx("可以周三去吗？"));
        assert_eq!(zh, "王秀英（编号12）留言：“可以周三去吗？”请尽快联系她。");
        let en = t.render("officer-question", "en", &ctx("Can I come on Wednesday?"));
        assert_eq!(
            en,
            "王秀英 (no. 12) wrote: \"Can I come on Wednesday?\" Please get in touch with her."
        );
    }

    #[test]
    fn every_system_text_file_is_compiled_in() {
        for lang in LANGUAGES {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("message-templates/system")
                .join(lang);
            for f in std::fs::read_dir(dir).unwrap() {
                let name = f
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".txt")
                    .to_string();
                assert!(
                    SYSTEM_TEXTS.iter().any(|(n, l, _)| *n == name && l == lang),
                    "{lang}/{name}.txt is not in SYSTEM_TEXTS"
                );
            }
        }
    }

    #[test]
    fn english_dates() {
        let d = NaiveDate::from_ymd_opt(2026, 4, 3).unwrap();
        assert_eq!(format_date(d, "en"), "3 April");
        assert_eq!(weekday_name(d, "en"), "Friday");
    }
}
