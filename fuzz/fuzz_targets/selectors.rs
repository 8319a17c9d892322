//! Label and field selectors from query strings.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(selector) = veranda_k8s::selector::LabelSelector::parse(text) {
        let labels = [("app".to_string(), "web".to_string())].into_iter().collect();
        let _ = selector.matches(&labels);
    }
    let _ = veranda_k8s::selector::parse_field_selector(text);
});
