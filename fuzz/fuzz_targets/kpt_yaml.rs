//! The comment-preserving YAML tree of merges and healing: parse, then write back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(docs) = veranda_kpt::yaml::parse(text) {
        let _ = veranda_kpt::yaml::to_file_text(&docs);
    }
});
