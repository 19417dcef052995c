//! Reply texts: normalisation and keyword matching never panic, and the
//! intent of a text does not change when it is normalised again.
#![no_main]
use careminder::domain::keywords::{normalise, Matcher};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static MATCHER: OnceLock<Matcher> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let m = MATCHER.get_or_init(Matcher::defaults);
    let once = normalise(text);
    assert_eq!(normalise(&once), once, "normalise is idempotent");
    let _ = m.intent(text);
});
