//! Comment healing.

use super::*;

fn files(list: &[(&str, &str)]) -> Files {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

#[test]
fn comments_dropped_by_a_client_come_back() {
    let previous = files(&[(
        "deploy.yaml",
        "# license\napiVersion: apps/v1\nkind: Deployment\nmetadata: # kpt-merge: /x\n  name: x\nspec:\n  replicas: 1 # kpt-set: ${replicas}\n  template:\n    spec:\n      containers:\n      # main\n      - name: app\n        image: a # kpt-set: ${image}\n",
    )]);
    let new = files(&[(
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: app\n        image: b\n      - name: sidecar\n        image: s\n",
    )]);
    let healed = heal_comments(&previous, &new);
    assert_eq!(
        String::from_utf8_lossy(&healed["deploy.yaml"]),
        "# license\napiVersion: apps/v1\nkind: Deployment\nmetadata: # kpt-merge: /x\n  name: x\nspec:\n  replicas: 3 # kpt-set: ${replicas}\n  template:\n    spec:\n      containers:\n      # main\n      - name: app\n        image: b # kpt-set: ${image}\n      - name: sidecar\n        image: s\n"
    );
}

#[test]
fn ytt_templates_and_unmatched_resources_are_untouched() {
    let previous =
        files(&[("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # c\n")]);
    let new = files(&[
        ("a.yaml", "#@ load(\"x\")\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"),
        ("b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"),
    ]);
    assert_eq!(heal_comments(&previous, &new), new);
}
