//! Unit tests of label and field selectors, with cases from `k8s.io/apimachinery/pkg/labels`.

use std::collections::BTreeMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

/// Parses `selector`, checks its canonical form and whether it matches each label set.
#[track_caller]
fn check(selector: &str, canonical: &str, cases: &[(&[(&str, &str)], bool)]) {
    let parsed = LabelSelector::parse(selector).unwrap_or_else(|err| panic!("{selector:?}: {err}"));
    assert_eq!(parsed.to_string(), canonical, "{selector:?}");
    for (set, expected) in cases {
        assert_eq!(parsed.matches(&labels(set)), *expected, "{selector:?} on {set:?}");
    }
}

#[track_caller]
fn check_error(selector: &str, message: &str) {
    match LabelSelector::parse(selector) {
        Ok(parsed) => panic!("{selector:?} parsed as {parsed:?}"),
        Err(err) => assert!(
            err.message.contains(message),
            "{selector:?}: {err} does not contain {message:?}"
        ),
    }
}

#[test]
fn label_selectors_match() {
    check("", "", &[(&[], true), (&[("a", "b")], true)]);
    check("a=b", "a=b", &[(&[("a", "b")], true), (&[("a", "c")], false), (&[], false)]);
    check("a==b", "a==b", &[(&[("a", "b")], true), (&[("a", "c")], false)]);
    check("a!=b", "a!=b", &[(&[("a", "b")], false), (&[("a", "c")], true), (&[], true)]);
    check(
        "env in (prod, qa),tier notin (frontend)",
        "env in (prod,qa),tier notin (frontend)",
        &[
            (&[("env", "qa")], true),
            (&[("env", "qa"), ("tier", "frontend")], false),
            (&[("env", "dev")], false),
        ],
    );
    check("a", "a", &[(&[("a", "")], true), (&[("b", "x")], false)]);
    check("!a", "!a", &[(&[("a", "")], false), (&[], true)]);
    check(" a = b , !c ", "a=b,!c", &[(&[("a", "b")], true), (&[("a", "b"), ("c", "d")], false)]);
    check(
        "x>5,y<3",
        "x>5,y<3",
        &[
            (&[("x", "6"), ("y", "2")], true),
            (&[("x", "5"), ("y", "2")], false),
            (&[("x", "a"), ("y", "2")], false),
        ],
    );
    check("a=", "a=", &[(&[("a", "")], true), (&[("a", "x")], false)]);
    check("a in ()", "a in ()", &[(&[("a", "")], true)]);
    check("a in (,b)", "a in (,b)", &[(&[("a", "")], true), (&[("a", "b")], true)]);
    // Keywords are values in value position.
    check("a=in", "a=in", &[(&[("a", "in")], true)]);
    check("a in (in,notin)", "a in (in,notin)", &[(&[("a", "notin")], true)]);
    check(
        "kpt.dev/latest-revision=true",
        "kpt.dev/latest-revision=true",
        &[(&[("kpt.dev/latest-revision", "true")], true)],
    );
}

#[test]
fn label_selector_errors() {
    check_error("a=b=c", "found '=', expected: ',' or 'end of string'");
    check_error("a in b", "found 'b' expected: '('");
    check_error("a in (b", "found 'end of string', expected: ',' or ')'");
    check_error("a,", "found 'end of string', expected: identifier after ','");
    check_error("=a", "found '=', expected: !, identifier, or 'end of string'");
    check_error("!a=b", "found '=', expected: ',' or 'end of string'");
    check_error("a b", "found 'b', expected: !=, ==, =, >, <, in, notin");
    check_error("a>b", "the value must be an integer");
    check_error("a=b c", "found 'c', expected: ',' or 'end of string'");
    check_error("-a=b", "name part must consist of alphanumeric characters");
    check_error("a=-b", "a valid label must be an empty string");
    check_error("Example.com/a=b", "prefix part a lowercase RFC 1123 subdomain");
    check_error(&format!("{}=b", "a".repeat(64)), "name part must be no more than 63 characters");
}

#[test]
fn field_selectors_parse() {
    let parsed =
        parse_field_selector("metadata.name=r.p.ws,spec.lifecycle!=Draft,spec.revision==1")
            .expect("valid selector");
    assert_eq!(
        parsed,
        vec![
            FieldRequirement {
                field: "metadata.name".into(),
                op: FieldOp::Eq,
                value: "r.p.ws".into()
            },
            FieldRequirement {
                field: "spec.lifecycle".into(),
                op: FieldOp::NotEq,
                value: "Draft".into()
            },
            FieldRequirement { field: "spec.revision".into(), op: FieldOp::Eq, value: "1".into() },
        ]
    );
    assert_eq!(parse_field_selector("").expect("empty"), vec![]);
    assert_eq!(
        parse_field_selector(r"spec.packageMetadata.labels[a]=x\,y\=z\\").expect("escapes"),
        vec![FieldRequirement {
            field: "spec.packageMetadata.labels[a]".into(),
            op: FieldOp::Eq,
            value: r"x,y=z\".into(),
        }]
    );
    assert_eq!(parse_field_selector("a=").expect("empty value")[0].value, "");
    let err = parse_field_selector("metadata.name").expect_err("no operator");
    assert_eq!(err.message, "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
    let err = parse_field_selector(r"a=b\c").expect_err("bad escape");
    assert_eq!(err.message, r"invalid field selector: invalid escape sequence: \c");
    let err = parse_field_selector("a=b=c").expect_err("unescaped =");
    assert_eq!(err.message, "invalid field selector: unescaped character '='");
}

#[test]
fn field_selector_messages() {
    let requirement = FieldRequirement {
        field: "spec.lifecycle".into(),
        op: FieldOp::NotEq,
        value: "Foo".into(),
    };
    assert_eq!(
        unsupported_field_operator(&requirement),
        r#"unsupported fieldSelector operator "!=" for field "spec.lifecycle""#
    );
    assert_eq!(
        unsupported_field_value(&requirement),
        r#"unsupported fieldSelector value "Foo" for field "spec.lifecycle""#
    );
    assert_eq!(unknown_field("spec.foo"), r#"unknown fieldSelector field "spec.foo""#);
}

#[test]
fn label_keys_and_values() {
    for key in ["a", "a.b-c_d", "kpt.dev/latest-revision", "x.example.com/A_b", &"a".repeat(63)] {
        assert_eq!(validate_label_key(key), Ok(()), "{key}");
    }
    for key in ["", "/a", "a/", "-a", "a-", "a b", "A.B/c", &"a".repeat(64), "a/b/c"] {
        assert!(validate_label_key(key).is_err(), "{key}");
    }
    for value in ["", "a", "A-b_c.d", &"a".repeat(63)] {
        assert_eq!(validate_label_value(value), Ok(()), "{value}");
    }
    for value in ["-a", "a b", "a/b", &"a".repeat(64)] {
        assert!(validate_label_value(value).is_err(), "{value}");
    }
}
