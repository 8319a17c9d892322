//! The typed model on real Kptfiles from the goldens.

use super::*;

/// The shared test data: `$VERANDA_SHARED`, by default `shared/` next to the checkout.
fn shared() -> std::path::PathBuf {
    match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

#[test]
fn reads_a_fetched_kptfile() {
    let path = shared().join("testdata/upgrade/nginx-both-change-same-field/local/Kptfile");
    let kf = Kptfile::parse(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(kf.metadata.name, "nginx");
    let git = kf.upstream_git().unwrap();
    assert_eq!((git.directory.as_str(), git.reference.as_str()), ("/nginx", "v1"));
    assert_eq!(kf.upstream.as_ref().unwrap().update_strategy, "resource-merge");
    assert_eq!(
        kf.upstream_lock.unwrap().git.unwrap().commit,
        "c2c04e70608922837abf390864cb8ad835f8b213"
    );
    assert_eq!(kf.info.unwrap().emails, vec!["wily.e.coyote@theacmecorporation.com".to_string()]);
    let pipeline = kf.pipeline.unwrap();
    let config = pipeline.validators[0].config_map.as_ref().unwrap();
    assert!(config.contains(&("strict".to_string(), "true".to_string())));
}

#[test]
fn rejects_non_mappings() {
    assert!(Kptfile::parse(b"- a\n").is_err());
    assert!(Kptfile::parse(b"a: [\n").is_err());
}
