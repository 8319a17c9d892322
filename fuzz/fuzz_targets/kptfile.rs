//! Kptfile reads and the edits the engine makes to any Kptfile a client sends.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = veranda_kpt::read_kptfile(data);
    let lock = veranda_kpt::GitLock {
        repo: "https://example.com/r.git".into(),
        directory: "pkg".into(),
        reference: "pkg/v1".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
    };
    let _ = veranda_kpt::set_upstream(data, Some("pkg"), &lock);
});
