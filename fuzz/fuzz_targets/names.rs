//! Object names, namespaces, package paths and resource file paths.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veranda_api::names;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = names::parse_package_revision_name(text);
    let _ = names::parse_package_name(text);
    let _ = names::check_dns1123_label(text);
    let _ = names::check_dns1123_subdomain(text);
    let _ = names::check_package_path(text);
    let _ = names::check_resource_path(text);
    let _ = names::revision_to_int(text);
    let _ = veranda_api::metadata::check_qualified_name(text);
});
