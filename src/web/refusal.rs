//! Refusals in the reader's language (the console's pages, and the API's
//! `error_zh` beside its English `error`).
//!
//! Services refuse in English: that text is the API's `error`, the
//! command line's message and the log's, and the console shows it to
//! English readers as it is. A console page in Chinese reads each refusal
//! through this table instead (issue 34: every refusal on a zh-CN page was
//! English). Each entry matches one refusal the services give, by its
//! shape, and says it in Chinese with the same figures; a refusal not in
//! the table keeps its English detail after its field named in Chinese,
//! and the table's test holds every refusal the console's forms are known
//! to give.

use regex::{Captures, Regex};
use std::sync::OnceLock;

/// (the English refusal, its Chinese; `$name` is a part of the English
/// kept as it is (`$e`, a detail, is read through the table again), `$F`
/// the field it names, in Chinese).
const ZH: &[(&str, &str)] = &[
    (r"^not found$", "未找到（或不在您负责的范围内）"),
    (r"^administrators only$", "仅限管理员"),
    (
        r"^the form is stale or forged: reload the page$",
        "表单已过期或无效：请刷新页面后重试",
    ),
    (r"^your account has no area$", "您的账号没有负责的区域"),
    (
        r"^(?:(?P<f>[\w. ]+): )?(?P<d>\d{4}-\d{2}-\d{2}) is in the future$",
        "$F$d 晚于今天",
    ),
    (r"^send_at: in the past$", "发送时间：已经过去"),
    (
        r"^send_at: a date and time, such as (?P<e>.+)$",
        "发送时间：请填写日期和时间，例如 $e",
    ),
    (r"^template error: (?P<e>.*)$", "模板错误：$e"),
    (r"^text is empty$", "文本为空"),
    (
        r"^(?P<f>[\w. ]+): \x22?(?P<v>[^\x22]*)\x22? is not a date$",
        "$F“$v”不是日期",
    ),
    (
        r"^(?P<f>\w+): not a date: \x22(?P<v>.*)\x22$",
        "$F“$v”不是日期",
    ),
    (r"^phone: phone number is empty$", "手机号：未填写"),
    (r"^phone: not a phone number$", "手机号：不是电话号码"),
    (
        r"^phone: not a valid number for its region$",
        "手机号：不是有效的号码",
    ),
    (
        r"^phone: not a mobile number",
        "手机号：不是手机号码（固定电话或服务号码收不到短信）",
    ),
    (r"^name is empty$|^name: required$", "姓名：必填"),
    (
        r"^name: give the broadcast a name$",
        "名称：请为这次群发命名",
    ),
    (
        r"^dates: neither LMP nor EDD given$",
        "日期：末次月经和预产期至少填写一项",
    ),
    (
        r"^dates: LMP (?P<l>\S+) and EDD (?P<e>\S+) disagree by (?P<n>\d+) days \(more than (?P<m>\d+)\)$",
        "日期：末次月经 $l 与预产期 $e 相差 $n 天（超过 $m 天）",
    ),
    (
        r"^dates: LMP (?P<l>\S+) is in the future$",
        "日期：末次月经 $l 晚于今天",
    ),
    (
        r"^dates: gestational age (?P<g>.+) is outside the plausible 2-44 weeks$",
        "日期：孕周 $g 不在 2–44 周之内",
    ),
    (
        r"^language: \x22(?P<v>.*)\x22 is not one of zh-CN, en$",
        "语言：“$v”不是中文或英文",
    ),
    (
        r"^consent: \x22(?P<v>.*)\x22 is neither yes nor no$",
        "知情同意：“$v”应为“是”或“否”",
    ),
    (
        r"^id_card: an ID card number has 18 characters",
        "身份证号：应为 18 位（17 位数字加一位校验码或 X）",
    ),
    (
        r"^id_card: the date of birth it holds is not a date$",
        "身份证号：其中的出生日期不是有效日期",
    ),
    (
        r"^id_card: the check digit is wrong",
        "身份证号：校验码不符，号码可能输错了",
    ),
    (
        r"^on: (?P<d>\S+) is before this pregnancy began \((?P<l>[^,)]+)(?:, her last period)?\)$",
        "日期：$d 早于本次妊娠开始（末次月经 $l）",
    ),
    (
        r"^on: (?P<d>\S+) is before (?:she was registered|her registration) \((?P<r>[^)]+)\)$",
        "日期：$d 早于她的建册日期（$r）",
    ),
    (
        r"^on: (?P<d>\S+) is before the birth \((?P<b>[^)]+)\), and this visit comes after it$",
        "日期：$d 早于分娩日期（$b），而这次访视在分娩之后",
    ),
    (
        r"^on: (?P<d>\S+) is after the birth \((?P<b>[^)]+)\), and this check-up comes before it$",
        "日期：$d 晚于分娩日期（$b），而这次产检在分娩之前",
    ),
    (
        r"^on: (?P<d>\S+) is before her last move \((?P<m>[^)]+)\)$",
        "日期：$d 早于她上次迁移（$m）",
    ),
    (
        r"^(?P<d>\S+) is before 20 weeks: end the pregnancy instead$",
        "$d 不满 20 孕周：请改为登记妊娠终止",
    ),
    (r"^this pregnancy has ended$", "本次妊娠已经结束"),
    (
        r"^woman \d+ has no current pregnancy$",
        "她目前没有在管的妊娠",
    ),
    (
        r"^that check-up is recorded already$",
        "这次产检已经登记过了",
    ),
    (r"^no pending check-up$", "没有待登记的产检"),
    (
        r"^an extra check-up is for a pregnancy before its birth, once a day",
        "加做的产检只能在分娩前登记，每天一次：当天已有记录，或已经分娩",
    ),
    (r"^she has opted out of messages$", "她已退订消息"),
    (r"^the answer is empty$", "回复内容为空"),
    (
        r"^the answer has (?P<n>\d+) characters: at most (?P<m>\d+)",
        "回复有 $n 个字：最多 $m 个字（约五条短信）才能作为一条消息送到她的手机",
    ),
    (
        r"^(?P<f>note|reason|reasons): at most (?P<n>\d+) characters$",
        "$F最多 $n 个字",
    ),
    (r"^reason: say why$", "原因：请说明原因"),
    (r"^grace_hours: at least 1$", "有效时长：至少 1 小时"),
    (
        r"^audience\.stage: weeks (?P<a>-?\d+)-(?P<b>-?\d+) must run forwards within 0-52$",
        "孕产阶段：周数 $a–$b 应在 0–52 之内，由小到大",
    ),
    (
        r"^(?P<f>weeks_from|weeks_to): a number of weeks$",
        "$F请填写周数",
    ),
    (
        r"^live_born: \x22(?P<n>.*)\x22 is not a number$",
        "活产数：“$n”不是数字",
    ),
    (
        r"^live_born: (?P<n>\d+) babies born alive\? give 1 to (?P<m>\d+)$",
        "活产数：$n 个？请填写 1 到 $m",
    ),
    (
        r"^discharged_on: (?P<d>\S+) is before the birth \((?P<b>[^)]+)\)$",
        "出院日期：$d 早于分娩日期（$b）",
    ),
    (
        r"^discharged_on: (?P<d>\S+) is more than (?P<n>\d+) days after the birth$",
        "出院日期：$d 距分娩超过 $n 天",
    ),
    (
        r"^officer: no officer has the code \x22(?P<c>.*)\x22$",
        "负责人：没有编号为“$c”的卫生员",
    ),
    (
        r"^officer: (?P<c>\S+) is not an officer",
        "负责人：$c 不是卫生员",
    ),
    (r"^she is already (?P<o>\S+)'s$", "她已由 $o 负责"),
    (
        r"^the password must have at least (?P<n>\d+) characters$",
        "密码至少需要 $n 个字符",
    ),
    (r"^(?:texts\.)?zh-CN(?: text)?: (?P<e>.*)$", "中文文本：$e"),
    (r"^(?:texts\.)?en(?: text)?: (?P<e>.*)$", "英文文本：$e"),
    (
        r"^the period is empty: (?P<a>\S+) to (?P<b>\S+)$",
        "所选时段为空：$a 至 $b",
    ),
    (
        r"^to: (?P<t>\S+) is not after from \((?P<f>[^)]+)\)$",
        "截止日期 $t 应晚于起始日期 $f",
    ),
    (
        r"^from: the period starts on (?P<d>\S+), after today",
        "起始日期：时段从 $d 开始，晚于今天，尚无可统计的数据",
    ),
    (r"^a period of at most three years$", "时段最长三年"),
    (
        r"^give one period",
        "请给出一个时段：季度、报告年度，或起止日期",
    ),
    (
        r"^quarter: \x22(?P<v>.*)\x22 is not a quarter",
        "季度：“$v”不是季度（写作 2027Q1）",
    ),
    (
        r"^year: \x22(?P<v>.*)\x22 is not a reporting year",
        "年度：“$v”不是报告年度（写作 2027）",
    ),
    (r"^cron: (?P<e>.*)$", "重复规则（cron）：$e"),
    (
        r"^grade: give a colour or purple",
        "风险等级：请选择颜色，或勾选紫色",
    ),
    (
        r"^grade: \x22(?P<v>.*)\x22 is not a colour of the risk scale",
        "风险等级：“$v”不是风险颜色（绿、黄、橙、红、紫）",
    ),
    (
        r"^grade: only one colour",
        "风险等级：只能选一种颜色（紫色可以同时标注）",
    ),
    (
        r"^infection: \x22(?P<v>.*)\x22 is not one of",
        "传染病：“$v”不是艾滋病、梅毒、乙肝或其他",
    ),
    (
        r"^on: (?P<d>\S+) is more than (?P<n>\d+) days after the birth \((?P<b>[^)]+)\)",
        "日期：$d 距分娩（$b）超过 $n 天：风险评估到产后 42 天为止",
    ),
    (
        r"^days: a whole number, negative for before$",
        "天数：请填写整数，提前发送填负数",
    ),
    (
        r"^give either officer \(a move within the county\) or destination \(another county\)$",
        "请填写新的负责人（县内迁移）或迁往地（迁出本县）",
    ),
    (
        r"^campaign key: lowercase letters, digits and -$",
        "活动编号：只能使用小写字母、数字和 -",
    ),
    (
        r"^step key: lowercase letters, digits and -$",
        "步骤编号：只能使用小写字母、数字和 -",
    ),
    (r"^grace: 1 to 336 hours$", "有效时长：1 到 336 小时"),
    (
        r"^no registered pregnancy matches it$",
        "没有对得上的在册孕产妇",
    ),
    (
        r"^(?P<n>\d+) registered women match it \(women (?P<w>[^)]+)\)$",
        "有 $n 位在册孕产妇对得上（编号 $w）",
    ),
    (
        r"^no ID card number, phone or name: the row names no one$",
        "没有身份证号、手机号或姓名：这一行指不出是谁",
    ),
    (
        r"^row (?P<r>\d+) was decided already",
        "第 $r 行已经处理过了",
    ),
    (
        r"^woman (?P<w>\d+)'s birth is recorded already on (?P<d>\S+), not (?P<e>\S+)$",
        "编号 $w 的分娩已登记为 $d，不是 $e",
    ),
    (
        r"^check-up (?P<n>\d+) of woman (?P<w>\d+) is recorded already on another day$",
        "编号 $w 的第 $n 次产检已在另一天登记",
    ),
    (
        r"^outcome: \x22(?P<v>.*)\x22 is neither live",
        "妊娠结局：“$v”应为活产或死产",
    ),
];

/// Field names as the forms label them.
const FIELDS: &[(&str, &str)] = &[
    ("on", "日期"),
    ("send_at", "发送时间"),
    ("phone", "手机号"),
    ("name", "姓名"),
    ("lmp", "末次月经"),
    ("edd", "预产期"),
    ("dates", "日期"),
    ("grade", "风险等级"),
    ("infection", "传染病"),
    ("discharged_on", "出院日期"),
    ("live_born", "活产数"),
    ("officer", "负责人"),
    ("village", "村"),
    ("note", "备注"),
    ("reason", "原因"),
    ("reasons", "原因"),
    ("language", "语言"),
    ("consent", "知情同意"),
    ("id_card", "身份证号"),
    ("grace_hours", "有效时长"),
    ("weeks_from", "起始孕周"),
    ("weeks_to", "截止孕周"),
    ("stage", "孕产阶段"),
    ("audience.stage", "孕产阶段"),
    ("audience.languages", "语言"),
    ("audience.channel", "渠道"),
    ("cron", "重复规则"),
    ("hospital", "医院"),
    ("case manager", "个案管理员"),
    ("password", "密码"),
    ("format", "格式"),
    ("from", "起始日期"),
    ("to", "截止日期"),
    ("offset_days", "天数"),
    ("step_key", "步骤编号"),
    ("campaign_key", "活动编号"),
    ("template_id", "模板编号"),
    ("code", "编号"),
];

fn table() -> &'static [(Regex, &'static str)] {
    static T: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    T.get_or_init(|| compiled(ZH))
}

fn compiled(table: &[(&str, &'static str)]) -> Vec<(Regex, &'static str)> {
    table
        .iter()
        .map(|(p, zh)| {
            (
                Regex::new(p).expect("refusal and outcome patterns compile (tested)"),
                *zh,
            )
        })
        .collect()
}

/// What was done with a text she (or a member of staff) sent, as the
/// services record it, in Chinese: (the English, its Chinese), as [`ZH`].
const OUTCOMES_ZH: &[(&str, &str)] = &[
    (
        r"^opted out; (?P<n>\d+) messages cancelled$",
        "已退订，取消待发消息 $n 条",
    ),
    (r"^opted out already$", "此前已退订"),
    (r"^opted back in$", "已重新订阅"),
    (r"^was not opted out$", "未曾退订，无需重新订阅"),
    (r"^help sent$", "已回复求助信息"),
    (r"^confirmed attendance: (?P<c>.+)$", "已确认参加：$c"),
    (
        r"^question: in the inbox of (?P<c>\S+), alerted$",
        "提问：已转给 $c 并提醒",
    ),
    (r"^question: in the inbox of (?P<c>\S+)$", "提问：已转给 $c"),
    (
        r"^question: no officer assigned, in the shared inbox$",
        "提问：未指定负责人，已放入公共待办",
    ),
    (
        r"^confirmation with no check-up coming: in the inbox of (?P<c>\S+), alerted$",
        "确认回复，但近期没有待做的产检：已转给 $c 并提醒",
    ),
    (
        r"^confirmation with no check-up coming: in the inbox of (?P<c>\S+)$",
        "确认回复，但近期没有待做的产检：已转给 $c",
    ),
    (
        r"^confirmation with no check-up coming: no officer assigned, in the shared inbox$",
        "确认回复，但近期没有待做的产检：未指定负责人，已放入公共待办",
    ),
    (
        r"^unknown number: answered once$",
        "未登记的号码：已回复一次",
    ),
    (
        r"^unknown number: answered before$",
        "未登记的号码：此前已回复",
    ),
    (
        r"^from staff, not a keyword: usage sent$",
        "工作人员发来的非指令短信：已回复用法",
    ),
];

/// What was done with a text, in the reader's language (as recorded
/// when no Chinese is known for it).
pub fn outcome_in(lang: &str, english: &str) -> String {
    static T: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    if lang != "zh-CN" {
        return english.to_string();
    }
    T.get_or_init(|| compiled(OUTCOMES_ZH))
        .iter()
        .find_map(|(re, zh)| re.captures(english.trim()).map(|c| fill(zh, &c)))
        .unwrap_or_else(|| english.to_string())
}

fn field_zh(field: &str) -> Option<&'static str> {
    FIELDS.iter().find(|(f, _)| *f == field).map(|(_, zh)| *zh)
}

/// The field a refusal names (`phone: not a phone number` names `phone`),
/// when it is one a form or a request has.
pub fn field_of(english: &str) -> Option<&'static str> {
    let (f, _) = english.trim().split_once(": ")?;
    FIELDS
        .iter()
        .find(|(name, _)| *name == f)
        .map(|(name, _)| *name)
}

/// `english` as a reader of `lang` reads it.
pub fn in_language(lang: &str, english: &str) -> String {
    if lang != "zh-CN" {
        return english.to_string();
    }
    let english = english.trim();
    // Already in Chinese (the console's own words for some refusals).
    if english
        .chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        && !english.contains(": ")
    {
        return english.to_string();
    }
    translated(english).unwrap_or_else(|| format!("未能完成：{english}"))
}

/// From the table, or the field in Chinese with the detail as given.
fn translated(english: &str) -> Option<String> {
    for (re, zh) in table() {
        if let Some(c) = re.captures(english) {
            return Some(fill(zh, &c));
        }
    }
    let (f, rest) = english.split_once(": ")?;
    field_zh(f).map(|zh| format!("{zh}：{rest}"))
}

fn fill(zh: &str, c: &Captures) -> String {
    let mut out = String::new();
    let mut rest = zh;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let name: String = tail
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric())
            .collect();
        if name == "F" {
            if let Some(f) = c.name("f") {
                let f = f.as_str();
                out.push_str(field_zh(f).unwrap_or(f));
                out.push('：');
            }
        } else if let Some(v) = c.name(&name) {
            // A detail (`$e`) may itself be a refusal the table knows.
            match (name.as_str(), translated(v.as_str())) {
                ("e", Some(zh)) => out.push_str(&zh),
                _ => out.push_str(v.as_str()),
            }
        }
        rest = &tail[name.len()..];
    }
    out.push_str(rest);
    out
}

/// The Tera filter `refusal(lang=…)`: a refusal in the page's language.
pub fn filter(
    value: &tera::Value,
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let lang = args.get("lang").and_then(|v| v.as_str()).unwrap_or("zh-CN");
    Ok(match value.as_str() {
        Some(s) => tera::Value::String(in_language(lang, s)),
        None => value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the inbound service records (services/inbound.rs), each read
    /// in Chinese with its figures and names kept.
    #[test]
    fn what_was_done_with_her_text_reads_in_chinese() {
        for (english, zh) in [
            (
                "opted out; 3 messages cancelled",
                "已退订，取消待发消息 3 条",
            ),
            (
                "confirmed attendance: 第2次产前检查",
                "已确认参加：第2次产前检查",
            ),
            (
                "question: in the inbox of V004-O1, alerted",
                "提问：已转给 V004-O1 并提醒",
            ),
            ("help sent", "已回复求助信息"),
            ("unknown number: answered once", "未登记的号码：已回复一次"),
        ] {
            assert_eq!(outcome_in("zh-CN", english), zh);
            assert_eq!(outcome_in("en", english), english);
        }
        assert_eq!(outcome_in("zh-CN", "something new"), "something new");
    }

    /// Refusals the console's forms give, as the services word them (each
    /// from its source: care, moves, risk, broadcasts, enrollment, dates,
    /// phone, id_card, period, the console itself): none keeps an English
    /// word in Chinese, and each keeps its figures.
    #[test]
    fn every_known_refusal_reads_in_chinese_with_its_figures() {
        let cases = [
            ("not found", "未找到"),
            ("administrators only", "仅限管理员"),
            ("the form is stale or forged: reload the page", "刷新页面"),
            ("2027-06-01 is in the future", "2027-06-01 晚于今天"),
            ("on: 2027-06-01 is in the future", "日期：2027-06-01 晚于今天"),
            ("discharged_on: 2027-06-01 is in the future", "出院日期：2027-06-01"),
            ("send_at: in the past", "发送时间：已经过去"),
            ("template error: Variable `nmae` not found", "模板错误"),
            ("phone: not a phone number", "手机号：不是电话号码"),
            ("phone: phone number is empty", "手机号：未填写"),
            (
                "phone: not a mobile number (a landline or service number cannot receive texts)",
                "不是手机号码",
            ),
            ("name is empty", "姓名：必填"),
            ("lmp: not a date: \"2026-13-01\"", "末次月经：“2026-13-01”不是日期"),
            ("on: \"next week\" is not a date", "日期：“next week”不是日期"),
            ("dates: neither LMP nor EDD given", "至少填写一项"),
            (
                "dates: LMP 2026-01-01 and EDD 2026-12-01 disagree by 34 days (more than 14)",
                "相差 34 天（超过 14 天）",
            ),
            ("dates: LMP 2027-01-01 is in the future", "末次月经 2027-01-01 晚于今天"),
            ("language: \"藏语\" is not one of zh-CN, en", "语言：“藏语”不是中文或英文"),
            ("consent: \"maybe\" is neither yes nor no", "知情同意：“maybe”"),
            (
                "id_card: the check digit is wrong: the number was mistyped",
                "校验码不符",
            ),
            (
                "on: 2026-01-01 is before this pregnancy began (2026-03-01, her last period)",
                "早于本次妊娠开始（末次月经 2026-03-01）",
            ),
            (
                "on: 2026-05-01 is before she was registered (2026-06-01)",
                "早于她的建册日期（2026-06-01）",
            ),
            (
                "on: 2026-05-01 is before the birth (2026-06-01), and this visit comes after it",
                "早于分娩日期（2026-06-01）",
            ),
            ("that check-up is recorded already", "已经登记过了"),
            ("she has opted out of messages", "她已退订消息"),
            (
                "the answer has 400 characters: at most 335 (about five SMS) reach her phone as one message",
                "回复有 400 个字：最多 335 个字",
            ),
            ("note: at most 500 characters", "备注：最多 500 个字"),
            (
                "audience.stage: weeks 30-20 must run forwards within 0-52",
                "周数 30–20",
            ),
            ("weeks_from: a number of weeks", "起始孕周：请填写周数"),
            ("live_born: \"two\" is not a number", "活产数：“two”不是数字"),
            ("officer: no officer has the code \"X9\"", "没有编号为“X9”的卫生员"),
            ("zh-CN text: template error: x", "中文文本：模板错误"),
            ("to: 2026-01-01 is not after from (2026-02-01)", "截止日期 2026-01-01"),
            ("grace_hours: at least 1", "至少 1 小时"),
            ("grade: give a colour or purple (紫)", "请选择颜色"),
            ("no registered pregnancy matches it", "没有对得上的在册孕产妇"),
            ("2 registered women match it (women 4, 9)", "有 2 位在册孕产妇对得上（编号 4, 9）"),
            ("days: a whole number, negative for before", "天数：请填写整数"),
            ("campaign key: lowercase letters, digits and -", "活动编号"),
            ("请选择要导入的文件", "请选择要导入的文件"),
            ("village: something new", "村：something new"),
        ];
        for (english, zh) in cases {
            let out = in_language("zh-CN", english);
            assert!(out.contains(zh), "{english:?} → {out:?}, wanted {zh:?}");
            assert_eq!(in_language("en", english), english);
        }
    }

    #[test]
    fn a_refusal_not_in_the_table_says_so_in_chinese_and_keeps_its_detail() {
        assert_eq!(
            in_language("zh-CN", "something odd happened"),
            "未能完成：something odd happened"
        );
    }
}
