//! WeChat callback security: the SHA-1 signatures of plain and safe mode,
//! and safe mode's AES-256-CBC message encryption.
//!
//! Safe mode: key = base64(EncodingAESKey + "="), 32 bytes; IV = the key's
//! first 16 bytes; plaintext = 16 random bytes + the XML's length (4 bytes,
//! big endian) + the XML + the AppID, PKCS#7-padded to a multiple of 32.
//! `msg_signature` = sha1 of the sorted, concatenated token, timestamp,
//! nonce and ciphertext. Signatures are compared in constant time.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// WeChat pads to 32 bytes, not to AES's 16.
const PAD_TO: usize = 32;

/// Lowercase hex SHA-1 of the parts, sorted and concatenated.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut h = Sha1::new();
    for p in sorted {
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the signature of `parts`, compared in constant time.
pub fn signature_matches(given: &str, parts: &[&str]) -> bool {
    let expected = signature(parts);
    let given = given.trim().to_ascii_lowercase();
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("encoding_aes_key must be 43 base64 characters")]
    Key,
    #[error("Encrypt is not base64")]
    Base64,
    #[error("Encrypt does not decrypt (wrong key, or not a multiple of the block size)")]
    Cipher,
    #[error("bad padding")]
    Padding,
    #[error("length field runs past the message")]
    Length,
    #[error("message is for another AppID")]
    AppId,
    #[error("message is not UTF-8")]
    Utf8,
}

/// Safe-mode encryption for one account.
#[derive(Clone)]
pub struct Cipher {
    key: [u8; 32],
    appid: String,
}

impl Cipher {
    pub fn new(encoding_aes_key: &str, appid: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::Key);
        }
        // The 43 characters need not end on canonical bits.
        let lenient = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let raw = lenient
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| CryptoError::Key)?;
        let key: [u8; 32] = raw.try_into().map_err(|_| CryptoError::Key)?;
        Ok(Self {
            key,
            appid: appid.to_string(),
        })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// The XML inside an `Encrypt` field, checked to be for our AppID.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, CryptoError> {
        let mut buf = STANDARD
            .decode(encrypted.trim())
            .map_err(|_| CryptoError::Base64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::Cipher);
        }
        let plain = Dec::new(&self.key.into(), &self.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::Cipher)?;
        let pad = *plain.last().ok_or(CryptoError::Padding)? as usize;
        if pad == 0
            || pad > PAD_TO
            || pad > plain.len()
            || plain[plain.len() - pad..]
                .iter()
                .any(|&b| b as usize != pad)
        {
            return Err(CryptoError::Padding);
        }
        let plain = &plain[..plain.len() - pad];
        if plain.len() < 20 {
            return Err(CryptoError::Length);
        }
        let len = u32::from_be_bytes(plain[16..20].try_into().expect("4 bytes")) as usize;
        let rest = &plain[20..];
        if len > rest.len() {
            return Err(CryptoError::Length);
        }
        let (xml, appid) = rest.split_at(len);
        if appid != self.appid.as_bytes() {
            return Err(CryptoError::AppId);
        }
        String::from_utf8(xml.to_vec()).map_err(|_| CryptoError::Utf8)
    }

    /// Encrypts `xml` as WeChat does, with the given 16 random bytes.
    pub fn encrypt(&self, xml: &str, random: [u8; 16]) -> String {
        let mut plain = Vec::with_capacity(xml.len() + 64);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&(xml.len() as u32).to_be_bytes());
        plain.extend_from_slice(xml.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = PAD_TO - plain.len() % PAD_TO;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let n = plain.len();
        let out = Enc::new(&self.key.into(), &self.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, n)
            .expect("padded to the block size");
        STANDARD.encode(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    #[test]
    fn encrypt_then_decrypt_round_trips_and_checks_the_appid() {
        let c = Cipher::new(KEY, "wx1234567890abcdef").unwrap();
        let xml = "<xml><Content><![CDATA[你好 1]]></Content></xml>";
        let e = c.encrypt(xml, [7; 16]);
        assert_eq!(c.decrypt(&e).unwrap(), xml);
        let other = Cipher::new(KEY, "wxother").unwrap();
        assert_eq!(other.decrypt(&e), Err(CryptoError::AppId));
        assert_eq!(c.decrypt("not base64!"), Err(CryptoError::Base64));
        assert_eq!(c.decrypt("AAAA"), Err(CryptoError::Cipher));
        assert!(Cipher::new("short", "wx").is_err());
    }

    #[test]
    fn signature_is_order_free_and_compared_whole() {
        let s = signature(&["token", "1409304348", "xxxxxx"]);
        assert_eq!(s, signature(&["xxxxxx", "token", "1409304348"]));
        assert!(signature_matches(&s, &["1409304348", "xxxxxx", "token"]));
        assert!(signature_matches(
            &s.to_uppercase(),
            &["1409304348", "xxxxxx", "token"]
        ));
        assert!(!signature_matches(
            &s[..39],
            &["1409304348", "xxxxxx", "token"]
        ));
        assert!(!signature_matches("", &["token"]));
    }
}
