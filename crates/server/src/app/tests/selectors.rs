//! Field selectors of package revision lists as Porch has them: alternatives on one field,
//! `spec.packageName` by name whatever the path, Kptfile labels, Porch's error texts.

use serde_json::{Value, json};

use super::{Fixture, PRS, check_status, draft, names};

/// Lists package revisions with `selector` (URL-encoded here).
async fn select(f: &Fixture, selector: &str) -> Value {
    let encoded: String = selector
        .bytes()
        .map(|b| match b {
            b'=' => "%3D".to_owned(),
            b',' => "%2C".to_owned(),
            b'[' => "%5B".to_owned(),
            b']' => "%5D".to_owned(),
            b'/' => "%2F".to_owned(),
            b'!' => "%21".to_owned(),
            _ => (b as char).to_string(),
        })
        .collect();
    f.get(&format!("{PRS}?fieldSelector={encoded}")).await.body
}

async fn fixture() -> Fixture {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.create_draft("blue", "web", "ws").await;
    f.create_draft("blue", "team/web", "ws").await;
    f.create_draft("blue", "team/db", "ws").await;
    let mut labelled = draft("blue", "labelled", "ws");
    labelled["spec"]["packageMetadata"] = json!({"labels": {"app": "shop", "tier": "front"}});
    let answer = f.post(PRS, &labelled).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.body);
    // One proposed revision.
    let mut proposed = f.get(&format!("{PRS}/blue.team.db.ws")).await.body;
    proposed["spec"]["lifecycle"] = json!("Proposed");
    let answer = f.put(&format!("{PRS}/blue.team.db.ws"), &proposed).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    f
}

#[tokio::test]
async fn several_values_of_one_field_are_alternatives() {
    let f = fixture().await;
    let drafts = select(&f, "spec.lifecycle=Draft").await;
    assert_eq!(names(&drafts).len(), 3, "{drafts}");
    let both = select(&f, "spec.lifecycle=Draft,spec.lifecycle=Proposed").await;
    assert_eq!(names(&both).len(), 4, "{both}");
    // Different fields must all hold.
    let narrowed =
        select(&f, "spec.lifecycle=Draft,spec.lifecycle=Proposed,spec.packageName=db").await;
    assert_eq!(names(&narrowed), ["blue.team.db.ws"], "{narrowed}");
    // `!=` (our extension) excludes, with alternatives or without.
    let not_web = select(&f, "spec.lifecycle=Draft,spec.packageName!=web").await;
    assert_eq!(names(&not_web), ["blue.labelled.ws"], "{not_web}");
}

#[tokio::test]
async fn package_name_matches_the_last_segment_or_the_whole_path() {
    let f = fixture().await;
    let web = select(&f, "spec.packageName=web").await;
    assert_eq!(names(&web), ["blue.team.web.ws", "blue.web.ws"], "{web}");
    let team_web = select(&f, "spec.packageName=team/web").await;
    assert_eq!(names(&team_web), ["blue.team.web.ws"], "{team_web}");
    let other_path = select(&f, "spec.packageName=other/web").await;
    assert_eq!(names(&other_path).len(), 0, "{other_path}");
    let alternatives = select(&f, "spec.packageName=web,spec.packageName=db").await;
    assert_eq!(names(&alternatives).len(), 3, "{alternatives}");
}

#[tokio::test]
async fn kptfile_labels_select_revisions() {
    let f = fixture().await;
    let shop = select(&f, "spec.packageMetadata.labels[app]=shop").await;
    assert_eq!(names(&shop), ["blue.labelled.ws"], "{shop}");
    let both =
        select(&f, "spec.packageMetadata.labels[app]=shop,spec.packageMetadata.labels[tier]=back")
            .await;
    assert_eq!(names(&both).len(), 0, "{both}");
    let unlabelled = select(&f, "spec.packageMetadata.labels[app]=nope").await;
    assert_eq!(names(&unlabelled).len(), 0, "{unlabelled}");
}

#[tokio::test]
async fn bad_field_selectors_answer_with_porch_texts() {
    let f = fixture().await;
    let cases = [
        (
            "spec.packageMetadata.labels[]=x",
            "label key cannot be empty in field selector \"spec.packageMetadata.labels[]\"",
        ),
        ("spec.nope=x", "unknown fieldSelector field \"spec.nope\""),
        (
            "spec.lifecycle=Foo",
            "unsupported fieldSelector value \"Foo\" for field \"spec.lifecycle\"",
        ),
        (
            "spec.repository=",
            "unsupported fieldSelector value \"\" for field \"spec.repository\" with operator \"=\"",
        ),
    ];
    for (selector, message) in cases {
        let encoded = selector.replace('=', "%3D").replace('[', "%5B").replace(']', "%5D");
        let answer = f.get(&format!("{PRS}?fieldSelector={encoded}")).await;
        check_status(&answer, 400, "BadRequest", message);
    }
}
