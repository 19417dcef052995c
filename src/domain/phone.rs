//! Phone numbers, normalised to E.164 with the `phonenumber` crate (libphonenumber's metadata).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("not a phone number")]
    Unparseable,
    #[error("not a valid number for its region")]
    Invalid,
    #[error("not a mobile number (a landline or service number cannot receive texts)")]
    NotMobile,
}

/// A phone number in E.164 form (`+8613812345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses a number as people write it (spaces, dashes, `+86`, `0086`),
    /// national numbers read in `default_region` (for example `CN`).
    pub fn parse(raw: &str, default_region: phonenumber::country::Id) -> Result<Self, PhoneError> {
        let cleaned: String = raw
            .trim()
            .chars()
            .map(|c| match c {
                // full-width digits and plus, as typed on Chinese keyboards
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                '＋' => '+',
                _ => c,
            })
            .collect();
        if cleaned.is_empty() {
            return Err(PhoneError::Empty);
        }
        let cleaned = match cleaned.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => cleaned,
        };
        let n = phonenumber::parse(Some(default_region), &cleaned)
            .map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&n) {
            return Err(PhoneError::Invalid);
        }
        Ok(Phone(n.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// Parses the number texts are sent to: as [`Phone::parse`], and a
    /// mobile number by its region's numbering plan (libphonenumber's
    /// metadata: a Chinese `010 1234 5678` is a fixed line and refused;
    /// where the plan cannot tell the two apart, as in the US, it is taken).
    pub fn parse_mobile(
        raw: &str,
        default_region: phonenumber::country::Id,
    ) -> Result<Self, PhoneError> {
        let phone = Self::parse(raw, default_region)?;
        let n = phonenumber::parse(None, &phone.0).map_err(|_| PhoneError::Unparseable)?;
        match n.number_type(&phonenumber::metadata::DATABASE) {
            phonenumber::Type::Mobile | phonenumber::Type::FixedLineOrMobile => Ok(phone),
            _ => Err(PhoneError::NotMobile),
        }
    }

    /// Trusts a value already stored in E.164 form.
    pub fn from_e164_unchecked(s: String) -> Self {
        Phone(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe for screens and demo output: `+86138****5678`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks the middle of a number; used wherever a number must be shown without being disclosed.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let keep_head = chars.len() - 8;
    let head: String = chars[..keep_head].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a region code such as `CN`.
pub fn region(code: &str) -> Option<phonenumber::country::Id> {
    code.trim().to_ascii_uppercase().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id::CN;

    /// Issue 34: a Beijing landline was taken as her mobile. China's
    /// numbering plan (libphonenumber's metadata for CN): mobiles are
    /// eleven digits starting 13-19, fixed lines an area code and a local
    /// number.
    #[test]
    fn texts_go_only_to_a_mobile_number() {
        assert_eq!(
            Phone::parse_mobile("13812345678", CN).unwrap().as_str(),
            "+8613812345678"
        );
        assert_eq!(
            Phone::parse_mobile("01012345678", CN),
            Err(PhoneError::NotMobile)
        );
        assert_eq!(
            Phone::parse_mobile("020 8765 4321", CN),
            Err(PhoneError::NotMobile)
        );
        // A landline is still a phone number where any number will do.
        assert!(Phone::parse("01012345678", CN).is_ok());
        // Where the plan cannot tell (the US), the number is taken.
        assert!(Phone::parse_mobile("+1 415 555 2671", CN).is_ok());
    }

    #[test]
    fn national_and_international_forms_normalise_to_e164() {
        for raw in [
            "13812345678",
            "+86 138 1234 5678",
            "0086-138-1234-5678",
            "１３８１２３４５６７８",
        ] {
            assert_eq!(
                Phone::parse(raw, CN).unwrap().as_str(),
                "+8613812345678",
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        assert_eq!(Phone::parse("", CN), Err(PhoneError::Empty));
        assert!(Phone::parse("12345", CN).is_err());
        assert!(Phone::parse("hello", CN).is_err());
    }

    #[test]
    fn masked_form_hides_the_middle() {
        assert_eq!(
            Phone::parse("13812345678", CN).unwrap().masked(),
            "+86138****5678"
        );
    }
}
