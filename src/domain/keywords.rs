//! Reading replies: what a short text means, the way people really type it
//! (full-width characters, stray spaces, any case, a trailing "!" or "。").
//! A text is a keyword only when the whole of it is one: "1 but I cannot
//! come on Monday" is a question for a person, not a confirmation.

use serde::{Deserialize, Serialize};

/// What a reply asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    OptOut,
    OptIn,
    /// She will come to her next check-up.
    Confirm,
    Help,
    /// A staff member reports a visit done for the woman with this code.
    VisitReport {
        code: String,
    },
    /// An officer reports her home visit to the woman with this code,
    /// with an optional note ("家访 123 一切都好").
    HomeVisitReport {
        code: String,
        note: Option<String>,
    },
    /// A member of her care team grades (or re-grades) the woman with this
    /// code: "评估 123 红" / "GRADE 123 red purple".
    GradeReport {
        code: String,
        grade: String,
    },
    /// Anything else: a person must answer it.
    Question,
}

impl Intent {
    pub fn name(&self) -> &'static str {
        match self {
            Intent::OptOut => "opt_out",
            Intent::OptIn => "opt_in",
            Intent::Confirm => "confirm",
            Intent::Help => "help",
            Intent::VisitReport { .. } => "visit_report",
            Intent::HomeVisitReport { .. } => "home_visit_report",
            Intent::GradeReport { .. } => "grade_report",
            Intent::Question => "question",
        }
    }
}

/// Keywords of one language. Every language's keywords are recognised in
/// every message: a Chinese speaker may well type "TD" or "STOP".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeywordSet {
    pub opt_out: Vec<String>,
    pub opt_in: Vec<String>,
    pub confirm: Vec<String>,
    pub help: Vec<String>,
    /// Words that start a visit report: "<word> <code>".
    pub visit_report: Vec<String>,
    /// Words that start an officer's home visit report: "<word> <code> [note]".
    pub home_visit_report: Vec<String>,
    /// Words that start a risk grade from her care team: "<word> <code> <colour>".
    pub grade_report: Vec<String>,
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn default_zh() -> KeywordSet {
    KeywordSet {
        // R: the opt-out word China's providers print on promotional texts (拒收请回复R).
        opt_out: words(&["退订", "TD", "T", "R", "取消", "停止", "不要再发"]),
        opt_in: words(&["订阅", "开通", "恢复"]),
        confirm: words(&["1", "好", "好的", "是", "是的", "可以", "会去", "收到"]),
        help: words(&["帮助", "求助", "?", "？"]),
        visit_report: words(&["访视", "随访"]),
        home_visit_report: words(&["家访", "入户"]),
        grade_report: words(&["评估", "风险评估"]),
    }
}

pub fn default_en() -> KeywordSet {
    KeywordSet {
        opt_out: words(&[
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "TD",
            "T",
        ]),
        opt_in: words(&["START", "SUBSCRIBE", "UNSTOP"]),
        confirm: words(&["1", "YES", "Y", "OK", "OKAY"]),
        help: words(&["HELP", "INFO", "?"]),
        visit_report: words(&["V", "VISIT"]),
        home_visit_report: words(&["HV", "HOME"]),
        grade_report: words(&["GRADE", "RISK"]),
    }
}

/// Folds what people type into one form: full-width ASCII to ASCII, the
/// ideographic space to a space, runs of spaces to one, lower case, and
/// trailing/leading punctuation that does not change meaning dropped.
pub fn normalise(text: &str) -> String {
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    let spaced = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    let trim = |c: char| {
        matches!(
            c,
            '.' | '!' | ',' | '。' | '！' | '，' | '~' | '～' | '、' | '"' | '\'' | '“' | '”'
        )
    };
    // Punctuation and spaces together: "STOP ! ." is "stop".
    let t = spaced.trim_matches(|c: char| trim(c) || c.is_whitespace());
    // A lone "?" is the help keyword; keep it.
    if t.is_empty() && spaced.contains('?') {
        return "?".into();
    }
    t.to_string()
}

/// Recognises keywords of several languages.
#[derive(Debug, Clone)]
pub struct Matcher {
    opt_out: Vec<String>,
    opt_in: Vec<String>,
    confirm: Vec<String>,
    help: Vec<String>,
    visit_report: Vec<String>,
    home_visit_report: Vec<String>,
    grade_report: Vec<String>,
}

impl Matcher {
    pub fn new<'a>(sets: impl IntoIterator<Item = &'a KeywordSet>) -> Self {
        let mut m = Matcher {
            opt_out: vec![],
            opt_in: vec![],
            confirm: vec![],
            help: vec![],
            visit_report: vec![],
            home_visit_report: vec![],
            grade_report: vec![],
        };
        for s in sets {
            let n = |v: &Vec<String>| {
                v.iter()
                    .map(|w| normalise(w))
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
            };
            m.opt_out.extend(n(&s.opt_out));
            m.opt_in.extend(n(&s.opt_in));
            m.confirm.extend(n(&s.confirm));
            m.help.extend(n(&s.help));
            m.visit_report.extend(n(&s.visit_report));
            m.home_visit_report.extend(n(&s.home_visit_report));
            m.grade_report.extend(n(&s.grade_report));
        }
        m
    }

    pub fn defaults() -> Self {
        Self::new(&[default_zh(), default_en()])
    }

    pub fn intent(&self, text: &str) -> Intent {
        let t = normalise(text);
        let is = |list: &Vec<String>| list.contains(&t);
        if is(&self.opt_out) {
            return Intent::OptOut;
        }
        if is(&self.opt_in) {
            return Intent::OptIn;
        }
        if is(&self.confirm) {
            return Intent::Confirm;
        }
        if is(&self.help) {
            return Intent::Help;
        }
        // Longer words first: "风险评估" before "评估".
        let mut grade_words = self.grade_report.clone();
        grade_words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
        for w in &grade_words {
            if let Some(rest) = t.strip_prefix(w.as_str()) {
                if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    continue;
                }
                let rest = rest.trim_start_matches([' ', ':', '#', '-']);
                let code: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                let grade = rest[code.len()..].trim();
                if !code.is_empty()
                    && code.len() <= 20
                    && !grade.is_empty()
                    && grade.chars().count() <= 40
                {
                    return Intent::GradeReport {
                        code: code.to_uppercase(),
                        grade: grade.to_string(),
                    };
                }
            }
        }
        for w in &self.home_visit_report {
            if let Some(rest) = t.strip_prefix(w.as_str()) {
                if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    continue;
                }
                let rest = rest.trim_start_matches([' ', ':', '#', '-']);
                let code: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                let note = rest[code.len()..].trim();
                if !code.is_empty() && code.len() <= 20 && note.chars().count() <= 200 {
                    return Intent::HomeVisitReport {
                        code: code.to_uppercase(),
                        note: (!note.is_empty()).then(|| note.to_string()),
                    };
                }
            }
        }
        for w in &self.visit_report {
            if let Some(rest) = t.strip_prefix(w.as_str()) {
                // "visit12" is not "v" + "isit12".
                if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    continue;
                }
                let code = rest.trim_start_matches([' ', ':', '#', '-']).trim();
                if !code.is_empty()
                    && code.len() <= 20
                    && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Intent::VisitReport {
                        code: code.to_uppercase(),
                    };
                }
            }
        }
        Intent::Question
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grade_from_her_care_team_carries_its_code_and_colour_words() {
        let m = Matcher::defaults();
        assert_eq!(
            m.intent("评估 123 红 紫"),
            Intent::GradeReport {
                code: "123".into(),
                grade: "红 紫".into()
            }
        );
        assert_eq!(
            m.intent("risk 42 orange"),
            Intent::GradeReport {
                code: "42".into(),
                grade: "orange".into()
            }
        );
        // No colour: not a grade (a person reads it).
        assert_eq!(m.intent("评估 123"), Intent::Question);
    }

    #[test]
    fn an_officers_home_visit_report_carries_its_code_and_note() {
        let m = Matcher::defaults();
        assert_eq!(
            m.intent("家访 123 一切都好"),
            Intent::HomeVisitReport {
                code: "123".into(),
                note: Some("一切都好".into())
            }
        );
        assert_eq!(
            m.intent("HV 42"),
            Intent::HomeVisitReport {
                code: "42".into(),
                note: None
            }
        );
        // "home visit was fine" is a sentence, not a report.
        assert_eq!(m.intent("homework"), Intent::Question);
    }

    #[test]
    fn every_keyword_in_both_languages_with_typing_variants() {
        let m = Matcher::defaults();
        let cases: &[(&str, Intent)] = &[
            ("退订", Intent::OptOut),
            (" 退订。", Intent::OptOut),
            ("TD", Intent::OptOut),
            // Found by the keywords fuzz target: punctuation after a space.
            ("STOP ! .", Intent::OptOut),
            ("退订 。", Intent::OptOut),
            ("td", Intent::OptOut),
            ("ＴＤ", Intent::OptOut),
            ("Ｔ", Intent::OptOut),
            ("Stop", Intent::OptOut),
            ("STOP!", Intent::OptOut),
            ("ｕｎｓｕｂｓｃｒｉｂｅ", Intent::OptOut),
            ("订阅", Intent::OptIn),
            ("start", Intent::OptIn),
            ("ＳＴＡＲＴ", Intent::OptIn),
            ("1", Intent::Confirm),
            ("１", Intent::Confirm),
            ("好", Intent::Confirm),
            ("好！", Intent::Confirm),
            ("是", Intent::Confirm),
            ("yes", Intent::Confirm),
            ("Ok.", Intent::Confirm),
            ("帮助", Intent::Help),
            ("HELP", Intent::Help),
            ("help", Intent::Help),
            ("?", Intent::Help),
            ("？", Intent::Help),
            (
                "V 4411",
                Intent::VisitReport {
                    code: "4411".into(),
                },
            ),
            (
                "v4411",
                Intent::VisitReport {
                    code: "4411".into(),
                },
            ),
            (
                "Ｖ　４４１１",
                Intent::VisitReport {
                    code: "4411".into(),
                },
            ),
            (
                "访视 4411",
                Intent::VisitReport {
                    code: "4411".into(),
                },
            ),
            (
                "随访4411",
                Intent::VisitReport {
                    code: "4411".into(),
                },
            ),
            ("visit 12", Intent::VisitReport { code: "12".into() }),
            ("Visit12", Intent::VisitReport { code: "12".into() }),
        ];
        for (text, want) in cases {
            assert_eq!(&m.intent(text), want, "{text:?}");
        }
    }

    #[test]
    fn near_misses_go_to_a_person() {
        let m = Matcher::defaults();
        for text in [
            "1 but I cannot come on Monday",
            "好的，但是我周一去不了",
            "stop sending on sundays please",
            "TD是什么意思",
            "我肚子疼怎么办",
            "V",
            "very well thank you",
            "",
        ] {
            assert_eq!(m.intent(text), Intent::Question, "{text:?}");
        }
    }

    #[test]
    fn configured_keywords_are_normalised_too() {
        let custom = KeywordSet {
            opt_out: vec!["ＢＡＳＴＡ".into()],
            ..Default::default()
        };
        let m = Matcher::new(&[custom]);
        assert_eq!(m.intent("basta"), Intent::OptOut);
        assert_eq!(m.intent("TD"), Intent::Question);
    }
}
