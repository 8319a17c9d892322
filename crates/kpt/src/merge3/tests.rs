//! Cases from kyaml's merge3 tests (`kyaml/yaml/merge3/*_test.go`), checked on values.

use super::*;

fn parse(text: &str) -> Option<Node> {
    crate::resource::parse_yaml(text).unwrap().remove(0).root().cloned()
}

fn emit(node: &Node) -> String {
    veranda_yaml::emit(&[node], veranda_yaml::SeqIndent::Compact).unwrap()
}

#[track_caller]
fn check(origin: &str, update: &str, local: &str, expected: &str, infer: bool) {
    let out = merge(
        parse(local),
        parse(origin).as_ref(),
        parse(update).as_ref(),
        Options { infer, comments: true },
    )
    .unwrap();
    let text = out.map(|n| emit(&n)).unwrap_or_default();
    let got: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    let want: serde_json::Value = serde_yaml::from_str(expected).unwrap();
    assert_eq!(got, want, "merged:\n{text}");
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\n";

#[test]
fn add_element_to_existing_list() {
    check(
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:1\n"
        ),
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:1\n      - name: baz\n        image: baz:2\n"
        ),
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:1\n"
        ),
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:1\n      - image: baz:2\n        name: baz\n"
        ),
        false,
    );
}

#[test]
fn remove_element_keeps_local_fields() {
    check(
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:bar\n      - name: baz\n        image: baz:bar\n"
        ),
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:bar\n"
        ),
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:bar\n        command: ['run.sh']\n      - name: baz\n        image: baz:bar\n"
        ),
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:bar\n        command: ['run.sh']\n"
        ),
        false,
    );
}

#[test]
fn list_removed_upstream_is_removed() {
    check(
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:bar\n"
        ),
        &format!("{DEPLOY}spec:\n  template:\n    spec: {{}}\n"),
        &format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - name: foo\n        image: foo:bar\n        command: ['run.sh']\n"
        ),
        &format!("{DEPLOY}spec:\n  template:\n    spec: {{}}\n"),
        false,
    );
}

#[test]
fn container_ports_merge_by_port_and_protocol() {
    let ports = |p: &str| {
        format!(
            "{DEPLOY}spec:\n  template:\n    spec:\n      containers:\n      - image: test-image\n        name: test-deployment\n        ports:\n{p}"
        )
    };
    check(
        &ports("        - containerPort: 8080\n"),
        &ports("        - containerPort: 8080\n        - containerPort: 80\n"),
        &ports("        - containerPort: 8080\n          protocol: TCP\n"),
        &ports(
            "        - containerPort: 8080\n          protocol: TCP\n        - containerPort: 80\n",
        ),
        false,
    );
}

#[test]
fn unknown_kinds_replace_lists_and_infer_merges_by_name() {
    let crd = |items: &str| format!("apiVersion: x.dev/v1\nkind: Fruit\nspec:\n  items:\n{items}");
    // Upstream changed the list: it wins as a whole.
    check(
        &crd("  - name: a\n    n: 1\n"),
        &crd("  - name: a\n    n: 2\n"),
        &crd("  - name: a\n    n: 1\n  - name: b\n    n: 3\n"),
        &crd("  - name: a\n    n: 2\n"),
        false,
    );
    // With inference (the Kptfile merge) the elements are merged by name.
    check(
        &crd("  - name: a\n    n: 1\n"),
        &crd("  - name: a\n    n: 2\n"),
        &crd("  - name: a\n    n: 1\n  - name: b\n    n: 3\n"),
        &crd("  - name: a\n    n: 2\n  - name: b\n    n: 3\n"),
        true,
    );
}

#[test]
fn scalars_nulls_and_conflicts() {
    check(
        "a: 1\nb: 1\nc: x\n",
        "a: 2\nb: 1\nc: x\n",
        "a: 3\nb: 4\nc: null\n",
        "a: 2\nb: 4\n",
        false,
    );
    check("m: {x: 1}\n", "m: null\n", "m: {x: 1, y: 2}\n", "{}", false);
    check("m: {x: 1}\n", "{}", "m: {x: 1, y: 2}\n", "m: {y: 2}\n", false);
}

#[test]
fn finalizers_merge_as_a_set() {
    let meta = |f: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  finalizers: [{f}]\n")
    };
    check(&meta("a, b"), &meta("a, c"), &meta("a, b, d"), &meta("a, d, c"), false);
}

#[test]
fn comments_follow_the_chosen_value() {
    let origin = parse("a: 1 # old\nb: 1\n");
    let updated = parse("a: 1 # new\n# about b\nb: 1\n");
    let local = parse("a: 1 # old\nb: 2 # mine\n");
    let out =
        merge(local, origin.as_ref(), updated.as_ref(), Options { infer: false, comments: true })
            .unwrap()
            .unwrap();
    assert_eq!(emit(&out), "a: 1 # new\n# about b\nb: 2 # mine\n");
}
