//! Provider-approved SMS templates (China's cloud SMS): the approved text
//! with its variables, how each provider writes a variable, and what a
//! filled template costs once the provider puts the signature in front.
//!
//! Aliyun writes variables by name (`${name}`), Tencent Cloud by position
//! (`{1}`, `{2}`). The approved content is kept beside the mapping so that
//! careminder can check, when a mapping is saved, that every variable is
//! mapped and that the text she will read fits.

use super::GatewayKind;
use serde::Serialize;

/// A template as one message uses it: the provider's code and each
/// variable's value, in the template's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilledTemplate {
    pub code: String,
    pub params: Vec<(String, String)>,
    /// What she reads: the signature and the filled content.
    pub text: String,
}

/// The variables of an approved content, in order of first appearance.
pub fn variables(kind: GatewayKind, content: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut push = |v: &str| {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    };
    let mut rest = content;
    match kind {
        GatewayKind::Tencent => {
            while let Some(i) = rest.find('{') {
                let after = &rest[i + 1..];
                match after.find('}') {
                    Some(j) if j > 0 && after[..j].chars().all(|c| c.is_ascii_digit()) => {
                        push(&after[..j]);
                        rest = &after[j + 1..];
                    }
                    _ => rest = after,
                }
            }
        }
        _ => {
            while let Some(i) = rest.find("${") {
                let after = &rest[i + 2..];
                match after.find('}') {
                    Some(j) if j > 0 => {
                        push(&after[..j]);
                        rest = &after[j + 1..];
                    }
                    _ => rest = after,
                }
            }
        }
    }
    out
}

/// The approved content with each variable replaced by its value.
pub fn fill(kind: GatewayKind, content: &str, params: &[(String, String)]) -> String {
    let mut out = content.to_string();
    for (name, value) in params {
        let placeholder = match kind {
            GatewayKind::Tencent => format!("{{{name}}}"),
            _ => format!("${{{name}}}"),
        };
        out = out.replace(&placeholder, value);
    }
    out
}

/// The signature as the provider prints it: `【name】`.
pub fn bracketed(sign_name: &str) -> String {
    format!("【{}】", sign_name.trim_matches(['【', '】']))
}

/// One line, trimmed, at most `max` characters (cut with `…`): a value as
/// a provider takes it.
pub fn fit_value(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if max == 0 || one_line.chars().count() <= max {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliyun_variables_are_named_and_tencent_ones_numbered() {
        assert_eq!(
            variables(
                GatewayKind::Aliyun,
                "${name}您好，请于${date}到${clinic}，${name}"
            ),
            vec!["name", "date", "clinic"]
        );
        assert_eq!(
            variables(GatewayKind::Tencent, "{1}您好，请于{2}到{3}产检{x}"),
            vec!["1", "2", "3"]
        );
        let p = vec![("1".to_string(), "王".to_string())];
        assert_eq!(fill(GatewayKind::Tencent, "{1}您好", &p), "王您好");
        let p = vec![("name".to_string(), "王".to_string())];
        assert_eq!(fill(GatewayKind::Aliyun, "${name}您好", &p), "王您好");
    }

    #[test]
    fn values_are_one_line_and_cut_to_the_limit() {
        assert_eq!(fit_value(" a\nb ", 35), "a b");
        assert_eq!(fit_value("一二三四五", 3), "一二…");
        assert_eq!(bracketed("【健康】"), "【健康】");
        assert_eq!(bracketed("健康"), "【健康】");
    }
}
