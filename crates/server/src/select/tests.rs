//! Field selector matching on served objects.

use serde_json::json;
use veranda_k8s::selector::parse_field_selector;

use super::field_matches;

#[track_caller]
fn check(selector: &str, object: serde_json::Value, expected: bool) {
    let requirements = parse_field_selector(selector).unwrap();
    let matched = requirements.iter().all(|r| field_matches(r, &object));
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
    check("spec.revision=2", draft, false);
}
