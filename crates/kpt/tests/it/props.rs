//! Property tests of the resource-merge upgrade on generated packages.

use proptest::prelude::*;
use veranda_kpt::{Strategy, add_upstream_identifiers, upgrade};

use crate::{packages, util::compare};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// No upstream change: the result is the local package (with kpt's identifiers), values
    /// and comments.
    #[test]
    fn no_upstream_change_returns_local(seed in any::<u64>()) {
        let (original, local) = packages::one_side(seed, true);
        let out = upgrade(Strategy::ResourceMerge, &original, &original, &local).unwrap();
        let problems = compare(&add_upstream_identifiers(&local), &out);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
        // Files the upgrade does not change keep their bytes.
        let expected = add_upstream_identifiers(&local);
        for (path, content) in &out {
            prop_assert_eq!(content, &expected[path], "{}", path);
        }
    }

    /// No local change: the result is the new upstream.
    #[test]
    fn no_local_change_returns_updated(seed in any::<u64>()) {
        let (original, updated) = packages::one_side(seed, false);
        let out = upgrade(Strategy::ResourceMerge, &original, &updated, &original).unwrap();
        let mut expected = add_upstream_identifiers(&updated);
        // The local Kptfile stays (the caller moves upstream/upstreamLock).
        expected.insert("Kptfile".into(), out["Kptfile"].clone());
        let problems = compare(&expected, &out);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Both sides changed: the output parses, keeps every local comment, and upgrading it again
    /// to the same upstream changes nothing.
    #[test]
    fn merged_output_reparses_and_keeps_comments(seed in any::<u64>()) {
        let (original, updated, local) = packages::triple(seed);
        let out = upgrade(Strategy::ResourceMerge, &original, &updated, &local).unwrap();
        for (path, content) in &out {
            if path.ends_with(".yaml") || path == "Kptfile" {
                let text = std::str::from_utf8(content).unwrap();
                for doc in serde_yaml::Deserializer::from_str(text) {
                    let parsed: Result<serde_yaml::Value, _> = serde::Deserialize::deserialize(doc);
                    prop_assert!(parsed.is_ok(), "{} does not parse:\n{}", path, text);
                }
            }
        }
        let local_text: String = local.values().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        let out_text: String = out.values().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        for line in local_text.lines().filter_map(|l| l.find("# note").map(|i| &l[i..])) {
            prop_assert!(out_text.contains(line), "comment {:?} lost", line);
        }
        let again = upgrade(Strategy::ResourceMerge, &updated, &updated, &out).unwrap();
        prop_assert_eq!(again, out);
    }
}
