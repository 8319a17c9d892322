//! Remote URL rewrites, the operator's `veranda serve --git-url-rewrite FROM=TO`: like git's
//! `url.<TO>.insteadOf <FROM>`, a remote URL that starts with FROM is fetched from and pushed to
//! at TO followed by the rest of the URL.
//!
//! A rewrite changes only where the Git layer connects. The URL a registration or a clone names
//! stays what the user gave everywhere else: the Repository's spec and status, `origin_url`
//! (Kptfile `upstreamLock`), cache directories and the remote policy, which judges the URL the
//! user gave (a rewrite is the operator's decision, not the requester's). One exception: an error
//! of the transport (libgit2's "failed to connect to HOST", for instance) names where the remote
//! was really reached, which is what the operator needs to see in a Repository's Ready message.
//!
//! Matching is stricter than git's plain string prefix: FROM matches a URL that equals it, or
//! that starts with it where FROM ends with `/` or `:` or the URL continues with `/`. So
//! `http://a.com` matches `http://a.com/x` but neither `http://a.com.evil/x` nor
//! `http://a.com:8080/x`, and `http://h/org/app` does not match `http://h/org/app-2`. Comparison
//! is byte for byte (no case folding), as git's. When several FROMs match, the longest wins.

use std::{fmt, str::FromStr, sync::Arc};

/// One `FROM=TO` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlRewrite {
    /// The URL prefix that is replaced.
    pub from: String,
    /// What replaces it.
    pub to: String,
}

impl FromStr for UrlRewrite {
    type Err = String;

    /// Parses `FROM=TO`, split at the first `=`; neither side may be empty.
    fn from_str(spec: &str) -> Result<UrlRewrite, String> {
        let Some((from, to)) = spec.split_once('=') else {
            return Err(format!("expected FROM=TO, got {spec:?}"));
        };
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() {
            return Err(format!("expected FROM=TO with neither empty, got {spec:?}"));
        }
        Ok(UrlRewrite { from: from.to_owned(), to: to.to_owned() })
    }
}

impl fmt::Display for UrlRewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.from, self.to)
    }
}

impl UrlRewrite {
    /// The rest of `url` after FROM when FROM matches it (see the module documentation).
    fn rest<'u>(&self, url: &'u str) -> Option<&'u str> {
        let rest = url.strip_prefix(self.from.as_str())?;
        let boundary = rest.is_empty()
            || rest.starts_with('/')
            || self.from.ends_with('/')
            || self.from.ends_with(':');
        boundary.then_some(rest)
    }
}

/// The rewrites in force, parsed once; cheap to clone. The default rewrites nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlRewrites {
    rules: Arc<Vec<UrlRewrite>>,
}

impl UrlRewrites {
    /// The given rules; two rules with the same FROM are refused (which would win is unclear).
    pub fn new(rules: Vec<UrlRewrite>) -> Result<UrlRewrites, String> {
        for (index, rule) in rules.iter().enumerate() {
            if rules[..index].iter().any(|earlier| earlier.from == rule.from) {
                return Err(format!("two rewrites of {:?}", rule.from));
            }
        }
        Ok(UrlRewrites { rules: Arc::new(rules) })
    }

    /// Parses `FROM=TO` specifications (the flag's values).
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<UrlRewrites, String> {
        let rules = specs
            .iter()
            .map(|spec| spec.as_ref().parse())
            .collect::<Result<Vec<UrlRewrite>, String>>()?;
        UrlRewrites::new(rules)
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[UrlRewrite] {
        &self.rules
    }

    /// Where `url` is reached: TO + the rest of the URL for the longest matching FROM, else
    /// `url` itself.
    pub fn apply(&self, url: &str) -> String {
        let best = self
            .rules
            .iter()
            .filter_map(|rule| rule.rest(url).map(|rest| (rule, rest)))
            .max_by_key(|(rule, _)| rule.from.len());
        match best {
            Some((rule, rest)) => format!("{}{rest}", rule.to),
            None => url.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrites(specs: &[&str]) -> UrlRewrites {
        UrlRewrites::parse(specs).expect("valid rewrites")
    }

    #[test]
    fn a_matching_prefix_is_replaced() {
        let r = rewrites(&["http://gitea.gitea.svc.cluster.local:3000/=http://127.0.0.1:4567/"]);
        assert_eq!(
            r.apply("http://gitea.gitea.svc.cluster.local:3000/nephio/porch-test"),
            "http://127.0.0.1:4567/nephio/porch-test"
        );
        assert_eq!(r.apply("http://other/nephio/x"), "http://other/nephio/x");
        assert_eq!(r.apply("/srv/git/x.git"), "/srv/git/x.git");
    }

    #[test]
    fn the_longest_from_wins_whatever_the_order() {
        for specs in [
            ["http://h/=http://a/", "http://h/org/=http://b/"],
            ["http://h/org/=http://b/", "http://h/=http://a/"],
        ] {
            let r = rewrites(&specs);
            assert_eq!(r.apply("http://h/org/app"), "http://b/app");
            assert_eq!(r.apply("http://h/other/app"), "http://a/other/app");
        }
    }

    #[test]
    fn from_ends_at_a_boundary() {
        let r = rewrites(&["http://a.com=http://mirror"]);
        assert_eq!(r.apply("http://a.com"), "http://mirror");
        assert_eq!(r.apply("http://a.com/x.git"), "http://mirror/x.git");
        // Another host, another port: not the same remote.
        assert_eq!(r.apply("http://a.com.evil/x.git"), "http://a.com.evil/x.git");
        assert_eq!(r.apply("http://a.com:8080/x.git"), "http://a.com:8080/x.git");
        let r = rewrites(&["http://h/org/app=file:///srv/app"]);
        assert_eq!(r.apply("http://h/org/app-2"), "http://h/org/app-2");
        assert_eq!(r.apply("http://h/org/app/sub"), "file:///srv/app/sub");
        // A FROM ending in `/` or `:` is its own boundary.
        let r = rewrites(&["git@h:=ssh://git@mirror/"]);
        assert_eq!(r.apply("git@h:org/app.git"), "ssh://git@mirror/org/app.git");
        let r = rewrites(&["http://h/org/a=http://x/"]);
        assert_eq!(r.apply("http://h/org/ab"), "http://h/org/ab");
    }

    #[test]
    fn matching_is_case_sensitive_as_in_git() {
        let r = rewrites(&["http://h/=http://m/"]);
        assert_eq!(r.apply("HTTP://h/x"), "HTTP://h/x");
    }

    #[test]
    fn parsing() {
        let rule: UrlRewrite = "http://a/=http://b/?x=1".parse().expect("valid");
        assert_eq!(rule, UrlRewrite { from: "http://a/".into(), to: "http://b/?x=1".into() });
        assert_eq!(rule.to_string(), "http://a/=http://b/?x=1");
        for bad in ["", "http://a/", "=http://b/", "http://a/="] {
            assert!(bad.parse::<UrlRewrite>().is_err(), "{bad:?}");
        }
        assert!(UrlRewrites::parse(&["http://a/=http://b/", "http://a/=http://c/"]).is_err());
        assert!(UrlRewrites::default().is_empty());
        assert_eq!(UrlRewrites::default().apply("http://a/x"), "http://a/x");
    }
}
