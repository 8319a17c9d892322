//! Path parsing.

use super::{ResourcePath, Target, target};
use crate::handlers::documents::Document;

#[track_caller]
fn check(path: &str, expected: Target<'_>) {
    assert_eq!(target(path), expected, "{path}");
}

fn resource<'a>(namespace: Option<&'a str>, rest: &[&'a str]) -> Target<'a> {
    Target::Resource(ResourcePath {
        group: "porch.kpt.dev",
        version: "v1alpha1",
        namespace,
        resource: "packagerevisions",
        name: rest.first().copied(),
        subresource: rest.get(1).copied(),
    })
}

#[test]
fn paths() {
    check("/version", Target::Document(Document::Version));
    check("/metrics", Target::Document(Document::Metrics));
    check("/api", Target::Document(Document::CoreVersions));
    check("/api/v1", Target::Document(Document::CoreResources));
    check("/apis", Target::Document(Document::Groups));
    check("/apis/porch.kpt.dev", Target::Document(Document::Group("porch.kpt.dev")));
    check(
        "/apis/porch.kpt.dev/v1alpha1",
        Target::Document(Document::Resources("porch.kpt.dev", "v1alpha1")),
    );
    check("/openapi/v2", Target::Document(Document::OpenApiV2));
    check("/openapi/v3", Target::Document(Document::OpenApiV3));
    check(
        "/openapi/v3/apis/porch.kpt.dev/v1alpha1",
        Target::Document(Document::OpenApiV3Group("apis/porch.kpt.dev/v1alpha1".into())),
    );
    check("/apis/porch.kpt.dev/v1alpha1/packagerevisions", resource(None, &[]));
    let ns = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";
    check(ns, resource(Some("default"), &[]));
    check(&format!("{ns}/r.p.ws"), resource(Some("default"), &["r.p.ws"]));
    check(&format!("{ns}/r.p.ws/approval"), resource(Some("default"), &["r.p.ws", "approval"]));
    check(&format!("{ns}/r.p.ws/approval/more"), Target::NotFound);
    check("/apis/porch.kpt.dev/v1alpha1/namespaces/default", Target::NotFound);
    // A cluster-scoped path; `resource_request` answers 404 for a namespaced resource.
    check("/apis/porch.kpt.dev/v1alpha1/packagerevisions/r.p.ws", resource(None, &["r.p.ws"]));
    check(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/veranda:editor",
        Target::Resource(ResourcePath {
            group: "rbac.authorization.k8s.io",
            version: "v1",
            namespace: None,
            resource: "clusterroles",
            name: Some("veranda:editor"),
            subresource: None,
        }),
    );
    check("/apis/rbac.authorization.k8s.io/v1/clusterroles/a/b/c", Target::NotFound);
    check("/", Target::NotFound);
    check("/healthz/extra", Target::NotFound);
}
