//! SMS length: GSM-7 or UCS-2, characters and parts.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What a text costs as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsLength {
    pub encoding: Encoding,
    /// Septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub parts: usize,
    /// Units per part at this length: 160/153 (GSM-7) or 70/67 (UCS-2).
    pub per_part: usize,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

pub fn measure(text: &str) -> SmsLength {
    let mut septets = 0usize;
    let mut gsm = true;
    for ch in text.chars() {
        if GSM7_BASIC.contains(ch) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(ch) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    let (encoding, units, single, multi) = if gsm {
        (Encoding::Gsm7, septets, 160, 153)
    } else {
        (Encoding::Ucs2, text.encode_utf16().count(), 70, 67)
    };
    let (parts, per_part) = if units <= single {
        (1, single)
    } else {
        (units.div_ceil(multi), multi)
    };
    SmsLength {
        encoding,
        units,
        parts,
        per_part,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_single_and_multipart() {
        assert_eq!(measure(&"a".repeat(160)).parts, 1);
        assert_eq!(measure(&"a".repeat(161)).parts, 2);
        assert_eq!(measure(&"a".repeat(306)).parts, 2);
        assert_eq!(measure(&"a".repeat(307)).parts, 3);
    }

    #[test]
    fn extension_characters_count_twice() {
        let m = measure("price: 10€");
        assert_eq!((m.encoding, m.units), (Encoding::Gsm7, 11));
    }

    #[test]
    fn chinese_switches_to_ucs2() {
        let m = measure(&"好".repeat(70));
        assert_eq!((m.encoding, m.units, m.parts), (Encoding::Ucs2, 70, 1));
        assert_eq!(measure(&"好".repeat(71)).parts, 2);
        assert_eq!(measure(&"好".repeat(135)).parts, 3);
        // One non-GSM character makes the whole message UCS-2.
        assert_eq!(measure("Hello 王").encoding, Encoding::Ucs2);
    }
}
