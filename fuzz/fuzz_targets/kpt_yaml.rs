//! The documents of a package file as the merge and upgrade read them (veranda-yaml's stream,
//! aliases expanded), the event pre-check, the round trip, and the Kptfile readers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veranda_yaml::{check_limits, stream};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = check_limits(text);
    if let Ok(mut docs) = stream::parse_stream(text) {
        for doc in &mut docs {
            if doc.expand_aliases().is_ok() {
                doc.touch();
            }
        }
        let _ = stream::write_stream(&docs);
    }
    let _ = veranda_kpt::read_kptfile(data);
    let _ = veranda_kpt::kptfile::Kptfile::parse(data);
});
