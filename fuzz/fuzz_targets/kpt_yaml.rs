//! veranda-kpt's YAML tree (a view of veranda-yaml's nodes), the event pre-check, the round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veranda_kpt::yaml::{parse, to_file_text};
use veranda_yaml::check_limits;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = check_limits(text);
    if let Ok(mut docs) = parse(text) {
        for doc in &mut docs {
            if let Some(root) = &doc.root {
                let _ = root.to_json();
            }
            doc.touch();
        }
        let _ = to_file_text(&docs);
    }
    let _ = veranda_kpt::read_kptfile(data);
});
