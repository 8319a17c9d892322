//! List `continue` tokens.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some((ns, name)) = veranda_k8s::continue_token::decode(text) {
        assert_eq!(
            veranda_k8s::continue_token::decode(&veranda_k8s::continue_token::encode(&ns, &name)),
            Some((ns, name))
        );
    }
});
