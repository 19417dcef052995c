//! Message templates as an administrator might type them: validation
//! either refuses them with an error or renders them; it never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    for language in ["zh-CN", "en"] {
        let _ = careminder::render::validate(body, language);
    }
});
