//! Name composition, parsing, UIDs and validation.

use super::*;

#[test]
fn compose() {
    assert_eq!(
        package_revision_name("test-blueprints", "basens", "v1"),
        "test-blueprints.basens.v1"
    );
    assert_eq!(
        package_revision_name("catalog-main", "workloads/oai/oai-ran-operator", "main"),
        "catalog-main.workloads.oai.oai-ran-operator.main"
    );
    assert_eq!(package_object_name("git", "a/b/c"), "git.a.b.c");
}

#[test]
fn parse() {
    let check = |name: &str, repo: &str, pkg: &str, ws: &str| {
        let parsed = parse_package_revision_name(name).unwrap();
        assert_eq!(
            (parsed.repository.as_str(), parsed.package.as_str(), parsed.workspace.as_str()),
            (repo, pkg, ws),
            "{name}"
        );
    };
    check("test-blueprints.basens.v1", "test-blueprints", "basens", "v1");
    check("repo.pkg.v2.0.0", "repo", "pkg", "v2.0.0");
    check(
        "catalog-main.workloads.oai.oai-ran-operator.main",
        "catalog-main",
        "workloads/oai/oai-ran-operator",
        "main",
    );
    check("git.lifecycle-package.lifecycle", "git", "lifecycle-package", "lifecycle");
    assert_eq!(parse_package_revision_name("nodots"), None);
    assert_eq!(parse_package_revision_name("repo.ws"), None);
    assert_eq!(parse_package_revision_name("repo..pkg.ws"), None);
    assert_eq!(parse_package_name("repo.a.b"), Some(("repo".into(), "a/b".into())));
}

#[test]
fn uid_matches_porch() {
    assert_eq!(
        package_revision_uid("rpkg-init", "git.init-package.init-1"),
        "45ee0692-730a-51b2-9a1d-ad4f4ad55dc8"
    );
    assert_eq!(
        package_revision_uid("rpkg-clone", "git.basens-clone.clone-2"),
        "710e4f9b-b21f-5786-bf04-1d1d9b32d57c"
    );
}

#[test]
fn revisions() {
    assert_eq!(revision_to_int("v3"), 3);
    assert_eq!(revision_to_int("12"), 12);
    assert_eq!(revision_to_int("main"), -1);
    assert_eq!(revision_to_int("v2.0.0"), -1);
}

#[test]
fn labels_and_paths() {
    assert!(check_dns1123_label("ws-1").is_ok());
    assert!(check_dns1123_label("Ws").is_err());
    assert!(check_dns1123_label("-a").is_err());
    assert!(check_dns1123_label(&"a".repeat(64)).is_err());
    assert!(check_package_path("a/b/pkg").is_ok());
    assert!(check_package_path("a//b").is_err());
    assert!(check_package_path("a/B").is_err());
    assert!(check_dns1123_subdomain("repo.a.b.ws").is_ok());
}

#[test]
fn resource_paths() {
    for ok in ["Kptfile", "sub/x.yaml", "README.md", ".gitignore", "a/.hidden/b"] {
        assert!(check_resource_path(ok).is_ok(), "{ok}");
    }
    for bad in [
        "/etc/passwd",
        "../x",
        "a/../../b",
        ".git/config",
        "a/.git/HEAD",
        "a//b",
        "",
        "./x",
        "a\\b",
    ] {
        assert!(check_resource_path(bad).is_err(), "{bad}");
    }
}
