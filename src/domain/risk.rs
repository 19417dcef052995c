//! A pregnant woman's risk grade, as the national work standard on
//! pregnancy risk assessment and management (孕产妇妊娠风险评估与管理工作规范,
//! 2017) has it: green / yellow / orange / red by how dangerous her
//! pregnancy is, and purple for an infectious disease, which may stand
//! beside another colour. Not yet assessed is a state of its own, never
//! taken for green. `shared/domain.md` "Risk grading".
//!
//! The grade is for her care team only: it is never rendered into a
//! message to her, a template variable or a preview.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The colour by how dangerous her pregnancy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// 绿: low risk.
    Green,
    /// 黄: general risk (age 35+ or 18-, scarred uterus, twins, mild anaemia).
    Yellow,
    /// 橙: higher risk (serious complications).
    Orange,
    /// 红: high risk: continuing may endanger her life.
    Red,
}

impl Colour {
    pub const ALL: [Colour; 4] = [Colour::Green, Colour::Yellow, Colour::Orange, Colour::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Orange => "orange",
            Colour::Red => "red",
        }
    }

    /// Its name in words, with what it means (the colour alone is not enough).
    pub fn name(self, lang: &str) -> &'static str {
        match (self, lang == "en") {
            (Colour::Green, false) => "绿色（低风险）",
            (Colour::Yellow, false) => "黄色（一般风险）",
            (Colour::Orange, false) => "橙色（较高风险）",
            (Colour::Red, false) => "红色（高风险）",
            (Colour::Green, true) => "green (low risk)",
            (Colour::Yellow, true) => "yellow (general risk)",
            (Colour::Orange, true) => "orange (higher risk)",
            (Colour::Red, true) => "red (high risk)",
        }
    }

    /// Orange and red: taken into high-risk case management.
    pub fn high(self) -> bool {
        matches!(self, Colour::Orange | Colour::Red)
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A colour word as written on a form or in a register: English or
/// Chinese, with or without 色 and a description in brackets. Purple is
/// not a colour of this scale: see [`Grade::parse`].
impl std::str::FromStr for Colour {
    type Err = RiskError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match word(s).as_str() {
            "green" | "绿" | "绿色" | "g" => Ok(Colour::Green),
            "yellow" | "黄" | "黄色" | "y" => Ok(Colour::Yellow),
            "orange" | "橙" | "橙色" | "o" => Ok(Colour::Orange),
            "red" | "红" | "红色" | "r" => Ok(Colour::Red),
            _ => Err(RiskError::UnknownColour(s.trim().to_string())),
        }
    }
}

/// A word of a grade: trimmed, lower case, full-width letters folded, a
/// description in brackets ("红色（高风险）") dropped.
fn word(s: &str) -> String {
    let s: String = s
        .trim()
        .chars()
        .map(|c| match c {
            // Full-width ASCII.
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            c => c,
        })
        .collect::<String>()
        .to_lowercase();
    let s = s.split(['（', '(']).next().unwrap_or_default();
    s.trim().to_string()
}

/// An infection that makes her purple (prevention of mother-to-child
/// transmission): the newborn's tasks follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Infection {
    Hiv,
    Syphilis,
    HepatitisB,
    /// Another infectious disease under the infectious-disease rules.
    Other,
}

impl Infection {
    pub const ALL: [Infection; 4] = [
        Infection::Hiv,
        Infection::Syphilis,
        Infection::HepatitisB,
        Infection::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Infection::Hiv => "hiv",
            Infection::Syphilis => "syphilis",
            Infection::HepatitisB => "hepatitis_b",
            Infection::Other => "other",
        }
    }

    pub fn name(self, lang: &str) -> &'static str {
        match (self, lang == "en") {
            (Infection::Hiv, false) => "艾滋病",
            (Infection::Syphilis, false) => "梅毒",
            (Infection::HepatitisB, false) => "乙肝",
            (Infection::Other, false) => "其他传染病",
            (Infection::Hiv, true) => "HIV",
            (Infection::Syphilis, true) => "syphilis",
            (Infection::HepatitisB, true) => "hepatitis B",
            (Infection::Other, true) => "another infection",
        }
    }
}

impl std::str::FromStr for Infection {
    type Err = RiskError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match word(s).as_str() {
            "hiv" | "艾滋病" | "艾滋" => Ok(Infection::Hiv),
            "syphilis" | "梅毒" => Ok(Infection::Syphilis),
            "hepatitis_b" | "hepatitis b" | "hbv" | "乙肝" | "乙型肝炎" => {
                Ok(Infection::HepatitisB)
            }
            "other" | "其他" | "其他传染病" => Ok(Infection::Other),
            _ => Err(RiskError::UnknownInfection(s.trim().to_string())),
        }
    }
}

/// Her grade: a colour (or not yet assessed) and, beside it, purple with
/// its infections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// None: not yet assessed (never taken for green).
    pub colour: Option<Colour>,
    /// Infectious disease: purple, beside the colour.
    pub purple: bool,
    /// What makes her purple (empty when not purple).
    pub infections: Vec<Infection>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    #[error(
        "grade: {0:?} is not a colour of the risk scale (green, yellow, orange, red, purple; 绿 黄 橙 红 紫)"
    )]
    UnknownColour(String),
    #[error(
        "infection: {0:?} is not one of hiv, syphilis, hepatitis_b, other (艾滋病 梅毒 乙肝 其他)"
    )]
    UnknownInfection(String),
    #[error("grade: give a colour or purple (紫)")]
    Empty,
    #[error("grade: only one colour of green, yellow, orange, red (purple may stand beside it)")]
    TwoColours,
}

impl Grade {
    /// A grade as written: one or more words separated by spaces, commas,
    /// "+" or "、" (`红 紫`, `red+purple`, `紫色(乙肝)`): at most one colour,
    /// and purple. Infections are given apart ([`Grade::with_infections`]),
    /// or in purple's brackets (`紫（乙肝、梅毒）`).
    pub fn parse(s: &str) -> Result<Grade, RiskError> {
        let mut g = Grade::default();
        let mut any = false;
        for part in split_words(s) {
            let (head, bracket) = match part.split_once(['（', '(']) {
                Some((h, b)) => (h, Some(b.trim_end_matches([')', '）']))),
                None => (part, None),
            };
            let w = word(head);
            if matches!(w.as_str(), "purple" | "紫" | "紫色" | "p") {
                g.purple = true;
                any = true;
                if let Some(b) = bracket {
                    for i in split_words(b) {
                        let i: Infection = i.parse()?;
                        if !g.infections.contains(&i) {
                            g.infections.push(i);
                        }
                    }
                }
                continue;
            }
            let c: Colour = head.parse()?;
            if g.colour.is_some_and(|x| x != c) {
                return Err(RiskError::TwoColours);
            }
            g.colour = Some(c);
            any = true;
        }
        if !any {
            return Err(RiskError::Empty);
        }
        g.infections.sort();
        Ok(g)
    }

    /// Adds infections (each a word); a woman with one is purple.
    pub fn with_infections(mut self, words: &[&str]) -> Result<Grade, RiskError> {
        for w in words.iter().flat_map(|w| split_words(w)) {
            let i: Infection = w.parse()?;
            if !self.infections.contains(&i) {
                self.infections.push(i);
            }
        }
        if !self.infections.is_empty() {
            self.purple = true;
        }
        self.infections.sort();
        Ok(self)
    }

    /// Orange, red or purple: under high-risk case management.
    pub fn managed(&self) -> bool {
        self.purple || self.colour.is_some_and(Colour::high)
    }

    /// Graded at all (not "not yet assessed").
    pub fn assessed(&self) -> bool {
        self.colour.is_some() || self.purple
    }

    /// Whether the grade is one a list's risk filter asks for: a colour
    /// (`green`, `yellow`, `orange`, `red`), `purple`, `high` (orange, red
    /// or purple), `none` (not yet assessed), or empty for any grade. The
    /// women list's SQL (`Store::search_women`) reads the filter the same way.
    pub fn matches_filter(&self, filter: &str) -> bool {
        match filter.trim() {
            "" => true,
            "purple" => self.purple,
            "high" => self.managed(),
            "none" => !self.assessed(),
            colour => self.colour.is_some_and(|c| c.as_str() == colour),
        }
    }

    /// For ordering the worklist: highest risk first (red, purple, orange,
    /// yellow, not yet assessed, green).
    pub fn rank(&self) -> u8 {
        match (self.colour, self.purple) {
            (Some(Colour::Red), _) => 0,
            (_, true) => 1,
            (Some(Colour::Orange), _) => 2,
            (Some(Colour::Yellow), _) => 3,
            (None, false) => 4,
            (Some(Colour::Green), false) => 5,
        }
    }

    /// In words, for her care team: "红色（高风险）+ 紫色（乙肝）", or "未评估".
    pub fn describe(&self, lang: &str) -> String {
        let en = lang == "en";
        let mut parts = vec![];
        if let Some(c) = self.colour {
            parts.push(c.name(lang).to_string());
        }
        if self.purple {
            let names: Vec<&str> = self.infections.iter().map(|i| i.name(lang)).collect();
            let purple = if en {
                "purple (infection"
            } else {
                "紫色（传染病"
            };
            parts.push(if names.is_empty() {
                format!("{purple}{}", if en { ")" } else { "）" })
            } else if en {
                format!("{purple}: {})", names.join(", "))
            } else {
                format!("{purple}：{}）", names.join("、"))
            });
        }
        if parts.is_empty() {
            return if en { "not yet assessed" } else { "未评估" }.to_string();
        }
        parts.join(" + ")
    }

    /// A short tag for her care team's lists and alerts ("红色+紫色",
    /// "red+purple"); empty while not yet assessed.
    pub fn short(&self, lang: &str) -> String {
        let en = lang == "en";
        let mut parts: Vec<&str> = vec![];
        if let Some(c) = self.colour {
            parts.push(match (c, en) {
                (Colour::Green, false) => "绿色",
                (Colour::Yellow, false) => "黄色",
                (Colour::Orange, false) => "橙色",
                (Colour::Red, false) => "红色",
                (c, true) => c.as_str(),
            });
        }
        if self.purple {
            parts.push(if en { "purple" } else { "紫色" });
        }
        parts.join("+")
    }

    /// As stored: the colour (or none) and the infections, comma separated.
    pub fn infections_str(&self) -> Option<String> {
        (!self.infections.is_empty()).then(|| {
            self.infections
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// Read back from storage.
    pub fn from_stored(colour: Option<&str>, purple: bool, infections: Option<&str>) -> Grade {
        Grade {
            colour: colour.and_then(|c| c.parse().ok()),
            purple,
            infections: infections
                .unwrap_or_default()
                .split(',')
                .filter_map(|i| i.parse().ok())
                .collect(),
        }
    }
}

fn split_words(s: &str) -> Vec<&str> {
    // Separators outside brackets: space, comma, plus, 、 and ；.
    let mut out = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '（' => depth += 1,
            ')' | '）' => depth -= 1,
            ' ' | ',' | '，' | '+' | '、' | ';' | '；' if depth == 0 => {
                if start < i {
                    out.push(&s[start..i]);
                }
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out.into_iter()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
}

/// Words that name a grade, a colour of the scale or an infection, in
/// either language: never in a text to her (a template using them is
/// refused when saved; tests check every message body for them).
pub const NEVER_IN_HER_TEXTS: &[&str] = &[
    "risk",
    "grade",
    "high-risk",
    "hiv",
    "syphilis",
    "hepatitis",
    "风险",
    "高危",
    "妊娠风险",
    "绿色",
    "黄色",
    "橙色",
    "红色",
    "紫色",
    "艾滋",
    "梅毒",
    "乙肝",
    "传染病",
    "专案",
];

/// Template variable names that would carry her grade: refused in any
/// text to her, by name, when the text is saved.
pub const FORBIDDEN_VARIABLES: &[&str] = &[
    "risk",
    "grade",
    "colour",
    "color",
    "risk_grade",
    "infection",
    "infections",
    "case_manager",
    "purple",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_filter_picks_a_colour_purple_high_risk_or_not_yet_assessed() {
        let g = |s: &str| Grade::parse(s).unwrap();
        let none = Grade::default();
        assert!(g("红").matches_filter("red") && g("红").matches_filter("high"));
        assert!(!g("红").matches_filter("orange") && !g("红").matches_filter("purple"));
        assert!(g("黄 紫").matches_filter("purple") && g("黄 紫").matches_filter("high"));
        assert!(g("黄 紫").matches_filter("yellow"));
        assert!(!g("黄").matches_filter("high") && !g("绿").matches_filter("none"));
        assert!(none.matches_filter("none") && !none.matches_filter("green"));
        assert!(none.matches_filter("") && g("绿").matches_filter(" "));
    }

    #[test]
    fn colour_words_in_both_languages_and_however_typed() {
        for (w, c) in [
            ("红", Colour::Red),
            ("红色", Colour::Red),
            ("红色（高风险）", Colour::Red),
            ("RED", Colour::Red),
            ("Ｒｅｄ", Colour::Red),
            (" yellow ", Colour::Yellow),
            ("橙色", Colour::Orange),
            ("绿", Colour::Green),
        ] {
            assert_eq!(w.parse::<Colour>(), Ok(c), "{w}");
        }
        assert!(matches!(
            "蓝色".parse::<Colour>(),
            Err(RiskError::UnknownColour(w)) if w == "蓝色"
        ));
    }

    #[test]
    fn purple_stands_beside_a_colour_with_its_infections() {
        let g = Grade::parse("红 紫（乙肝、梅毒）").unwrap();
        assert_eq!(g.colour, Some(Colour::Red));
        assert!(g.purple);
        assert_eq!(g.infections, [Infection::Syphilis, Infection::HepatitisB]);
        assert!(g.managed());
        assert_eq!(
            g.describe("zh-CN"),
            "红色（高风险） + 紫色（传染病：梅毒、乙肝）"
        );
        assert_eq!(Grade::parse("purple").unwrap().colour, None);
        assert_eq!(Grade::parse("red, orange"), Err(RiskError::TwoColours));
        assert_eq!(Grade::parse(" "), Err(RiskError::Empty));
        assert!(Grade::parse("紫（流感）").is_err());
    }

    #[test]
    fn not_yet_assessed_is_never_green() {
        let g = Grade::default();
        assert!(!g.assessed());
        assert!(!g.managed());
        assert_eq!(g.describe("en"), "not yet assessed");
        assert!(g.rank() < Grade::parse("green").unwrap().rank());
        assert!(Grade::parse("red").unwrap().rank() < Grade::parse("紫").unwrap().rank());
    }

    #[test]
    fn round_trip_through_storage() {
        let g = Grade::parse("yellow")
            .unwrap()
            .with_infections(&["hiv"])
            .unwrap();
        let back = Grade::from_stored(Some("yellow"), true, g.infections_str().as_deref());
        assert_eq!(back, g);
    }
}
