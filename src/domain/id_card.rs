//! The resident identity card number (居民身份证号码), as GB 11643-1999
//! "Citizen identification number" defines it: 17 digits (a 6-digit
//! address code, an 8-digit date of birth, a 3-digit order code) and a
//! check character computed over them by ISO 7064 MOD 11-2.

use chrono::NaiveDate;

/// The weights of the 17 digits, GB 11643-1999 §8.1 (2^(18-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder of the weighted sum mod 11.
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// A checked 18-character ID card number (an upper-case `X` as the last).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdCard(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdCardError {
    #[error("an ID card number has 18 characters: 17 digits and a check digit or X")]
    Shape,
    #[error("the date of birth it holds is not a date")]
    BirthDate,
    #[error("the check digit is wrong: the number was mistyped")]
    CheckDigit,
}

/// The check character of the first 17 digits (GB 11643-1999 §8.1).
pub fn check_char(first17: &[u8; 17]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

impl IdCard {
    /// Reads a number as typed: spaces around it ignored, a lower-case x taken.
    pub fn parse(s: &str) -> Result<Self, IdCardError> {
        let s = s.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 18
            || !b[..17].iter().all(u8::is_ascii_digit)
            || !(b[17].is_ascii_digit() || b[17] == b'X')
        {
            return Err(IdCardError::Shape);
        }
        let born = |s: &str| NaiveDate::parse_from_str(s, "%Y%m%d").ok();
        if born(&s[6..14]).is_none() {
            return Err(IdCardError::BirthDate);
        }
        let first: [u8; 17] = b[..17].try_into().expect("17 bytes");
        if check_char(&first) != b[17] as char {
            return Err(IdCardError::CheckDigit);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The date of birth the number holds.
    pub fn born_on(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("checked when parsed")
    }

    /// As screens show it: see [`mask`].
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks a stored ID card number the way a phone is masked
/// ([`crate::domain::phone::mask`]: the middle hidden, the last 4 kept),
/// hiding the whole date of birth: `110105********002X`.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_with_its_check_digit_is_taken_and_a_mistyped_one_refused() {
        // The example of GB 11643-1999's annex: 11010519491231002X.
        let ok = IdCard::parse("11010519491231002x").unwrap();
        assert_eq!(ok.as_str(), "11010519491231002X");
        assert_eq!(ok.born_on(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(
            IdCard::parse("110105194912310021"),
            Err(IdCardError::CheckDigit)
        );
        assert_eq!(IdCard::parse("1101051949123100"), Err(IdCardError::Shape));
        assert_eq!(
            IdCard::parse("110105194913310029"),
            Err(IdCardError::BirthDate)
        );
        assert_eq!(ok.masked(), "110105********002X");
    }
}
