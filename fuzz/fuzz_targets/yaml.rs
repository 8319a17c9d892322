//! veranda-yaml (the go-yaml port): parse, convert to JSON, emit; nothing may panic or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veranda_yaml::{SeqIndent, emit, parse_documents};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(docs) = parse_documents(text) {
        for doc in &docs {
            let _ = doc.to_json();
        }
        let refs: Vec<_> = docs.iter().collect();
        let _ = emit(&refs, SeqIndent::Compact);
    }
});
