//! The go-yaml port used by rendering: parse, then emit what parsed.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(docs) = veranda_fn::yaml::parse_documents(text) {
        let refs: Vec<_> = docs.iter().collect();
        let _ = veranda_fn::yaml::emit(&refs, veranda_fn::yaml::derive_seq_indent(text));
    }
});
