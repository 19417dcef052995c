//! Comparing secrets.

use subtle::ConstantTimeEq;

/// Compares secrets (tokens, passwords, signatures) without leaking through
/// timing where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
