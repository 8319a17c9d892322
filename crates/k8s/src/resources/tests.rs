//! Unit tests of the resource catalog.

use super::*;

#[test]
fn lookups() {
    assert_eq!(find(PORCH_GROUP, VERSION, "packagerevisions"), Some(&PACKAGE_REVISIONS));
    assert_eq!(find(CONFIG_GROUP, VERSION, "repositories"), Some(&REPOSITORIES));
    assert_eq!(find(PORCH_GROUP, VERSION, "repositories"), None);
    assert_eq!(find_by_kind("porch.kpt.dev/v1alpha1", "PorchPackageList"), Some(&PACKAGES));
    assert_eq!(
        find_by_kind("porch.kpt.dev/v1alpha1", "PackageRevisionResources"),
        Some(&PACKAGE_REVISION_RESOURCES)
    );
    assert_eq!(find_by_kind("v1", "List"), None);
    let names: Vec<&str> = in_group_version(PORCH_GROUP, VERSION).map(|it| it.resource).collect();
    assert_eq!(names, ["packagerevisions", "packagerevisionresources", "packages"]);
}

#[test]
fn names_and_verbs() {
    assert_eq!(PACKAGE_REVISIONS.api_version(), "porch.kpt.dev/v1alpha1");
    assert_eq!(PACKAGE_REVISIONS.group_kind().to_string(), "PackageRevision.porch.kpt.dev");
    assert_eq!(REPOSITORIES.group_resource().to_string(), "repositories.config.porch.kpt.dev");
    assert_eq!(GroupKind { group: "", kind: "Status" }.to_string(), "Status");
    assert_eq!(GroupResource { group: "", resource: "pods" }.to_string(), "pods");
    assert_eq!(group_version("", "v1"), "v1");
    assert!(PACKAGES.supports("create") && !PACKAGES.supports("patch"));
    assert_eq!(
        PACKAGE_REVISIONS.subresource("approval").map(|it| it.verbs),
        Some(&["get", "patch", "update"][..])
    );
    assert_eq!(PACKAGE_REVISIONS.subresource("status"), None);
    for resource in RESOURCES {
        let mut sorted = resource.verbs.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, resource.verbs, "{} verbs are sorted", resource.resource);
    }
}
