//! The full transition table, both endpoints.

use super::{Endpoint, Lifecycle};

#[test]
fn transition_table() {
    use Lifecycle as L;
    // (from, to, via update, via approval)
    let table = [
        (L::Draft, L::Proposed, true, true),
        (L::Draft, L::Published, false, true),
        (L::Draft, L::DeletionProposed, false, false),
        (L::Proposed, L::Draft, true, true),
        (L::Proposed, L::Published, false, true),
        (L::Proposed, L::DeletionProposed, false, false),
        (L::Published, L::Draft, false, false),
        (L::Published, L::Proposed, false, false),
        (L::Published, L::DeletionProposed, true, true),
        (L::DeletionProposed, L::Draft, false, false),
        (L::DeletionProposed, L::Proposed, false, false),
        (L::DeletionProposed, L::Published, false, false),
    ];
    for (from, to, update, approval) in table {
        assert_eq!(
            from.check_transition(to, Endpoint::Update).is_ok(),
            update,
            "{from}->{to} update"
        );
        assert_eq!(
            from.check_transition(to, Endpoint::Approval).is_ok(),
            approval,
            "{from}->{to} approval"
        );
    }
    for l in Lifecycle::ALL {
        assert!(l.check_transition(l, Endpoint::Update).is_ok());
    }
}

#[test]
fn forbidden_message_names_both_states() {
    let err =
        Lifecycle::Published.check_transition(Lifecycle::Draft, Endpoint::Update).unwrap_err();
    assert!(err.contains("Published") && err.contains("Draft"), "{err}");
    let err = Lifecycle::DeletionProposed
        .check_transition(Lifecycle::Published, Endpoint::Approval)
        .unwrap_err();
    assert!(err.contains("DeletionProposed") && err.contains("Published"), "{err}");
}

#[test]
fn parse_round_trip() {
    for l in Lifecycle::ALL {
        assert_eq!(Lifecycle::parse(l.as_str()), Some(l));
    }
    assert_eq!(Lifecycle::parse(""), Some(Lifecycle::Draft));
    assert_eq!(Lifecycle::parse("Final"), None);
}

#[test]
fn proposing_an_unpublished_revision_for_deletion_says_so_as_porch() {
    let err = Lifecycle::Draft
        .check_transition(Lifecycle::DeletionProposed, Endpoint::Update)
        .expect_err("refused");
    assert!(err.ends_with("; can only propose published packages for deletion"), "{err}");
}
