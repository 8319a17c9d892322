//! Field selector matching on served objects.

use serde_json::json;
use veranda_k8s::selector::parse_field_selector;

use super::fields_match;

#[track_caller]
fn check(selector: &str, object: serde_json::Value, expected: bool) {
    let requirements = parse_field_selector(selector).unwrap();
    let matched = fields_match(&requirements, &object);
    assert_eq!(matched, expected, "{selector} on {object}");
}

#[test]
fn field_selectors() {
    let draft = json!({"metadata": {"name": "r.p.ws"}, "spec": {"repository": "r", "packageName": "a/p", "lifecycle": "Draft"}});
    let v2 = json!({"metadata": {"name": "r.p.v2"}, "spec": {"repository": "r", "revision": 2, "lifecycle": "Published"}});
    check("spec.repository=r", draft.clone(), true);
    check("spec.repository==r,spec.packageName=a/p", draft.clone(), true);
    check("spec.repository!=r", draft.clone(), false);
    check("spec.lifecycle=Published", draft.clone(), false);
    check("metadata.name=r.p.ws", draft.clone(), true);
    // Porch: revision 0 selects everything; a missing revision is 0.
    check("spec.revision=0", v2.clone(), true);
    check("spec.revision=2", v2.clone(), true);
    check("spec.revision=v2", v2.clone(), true);
    check("spec.revision=1", v2, false);
    check("spec.revision=2", draft.clone(), false);
    // Alternatives on one field, conjunction across fields; `!=` excludes.
    check("spec.lifecycle=Published,spec.lifecycle=Draft", draft.clone(), true);
    check("spec.lifecycle=Published,spec.lifecycle=Draft,spec.repository=x", draft.clone(), false);
    check("spec.lifecycle=Draft,spec.lifecycle!=Draft", draft.clone(), false);
    // A package by its last segment, or by its whole path.
    check("spec.packageName=p", draft.clone(), true);
    check("spec.packageName=a/p", draft.clone(), true);
    check("spec.packageName=b/p", draft.clone(), false);
    check("spec.packageName=a", draft, false);
    let labelled = json!({"spec": {"packageMetadata": {"labels": {"app": "shop"}}}});
    check("spec.packageMetadata.labels[app]=shop", labelled.clone(), true);
    check("spec.packageMetadata.labels[app]=web", labelled.clone(), false);
    check("spec.packageMetadata.labels[tier]=web", labelled, false);
}
