//! Which Git remotes a request may make the server touch: a Repository's `spec.git.repo` and a
//! clone task's `upstreamRef.git.repo`.
//!
//! The server reads and writes every remote with its own rights, so a URL is a request to act
//! on the server's machine and network. Local paths and `file://` URLs are for administrators
//! (group `system:masters`) or under the directories the operator allows
//! (`--allow-local-repositories`); network remotes may be restricted to host patterns
//! (`--allow-remote-hosts`). A refusal reads the same whether a local path exists or not.
//!
//! The policy judges the URL the request names, never its rewritten form: an operator's
//! `--git-url-rewrite` (applied by the Git backend, `veranda_repo::UrlRewrites`) is the
//! operator's decision about where that URL is reached, so a rewrite to a local path or a host
//! outside `--allow-remote-hosts` is allowed to every requester of the URL it rewrites.

use std::path::{Component, Path, PathBuf};

use crate::requester;

/// The operator's rules for remotes.
#[derive(Clone, Debug, Default)]
pub struct RemotePolicy {
    /// Directories (canonical, see [`RemotePolicy::allow_local`]) under which anyone may use
    /// local repositories.
    local_dirs: Vec<PathBuf>,
    /// Host patterns (`git.example.com`, `*.example.com`, `host:port`) that network remotes must
    /// match; empty: any host.
    remote_hosts: Vec<String>,
}

/// Where a URL points.
#[derive(Debug, PartialEq, Eq)]
enum Remote {
    /// A path on the server's machine (a path, or a `file://` URL).
    Local(PathBuf),
    /// A host reached over the network (`http(s)://`, `ssh://`, `git://`, scp-like `host:path`).
    Network { host: String, port: Option<u16> },
    /// Anything else (another scheme, a `transport::address` remote helper): for the backend to
    /// make sense of, when an administrator asks; the message says why others may not.
    Other(String),
}

impl RemotePolicy {
    /// Allows local repositories under `dir` for everyone. `dir` must exist: it is resolved
    /// once, so that a symbolic link cannot widen it later.
    pub fn allow_local(mut self, dir: &Path) -> std::io::Result<RemotePolicy> {
        self.local_dirs.push(dir.canonicalize()?);
        Ok(self)
    }

    /// Restricts network remotes to hosts matching `pattern` (with the others given): a host
    /// name or address, `*` matching any run of characters, and `:PORT` to allow one port
    /// only. Matching ignores case.
    pub fn allow_remote_host(mut self, pattern: &str) -> RemotePolicy {
        self.remote_hosts.push(pattern.trim().to_ascii_lowercase());
        self
    }

    /// Checks that the request being served may use `url`; the message says why not.
    pub(crate) fn check(&self, url: &str) -> Result<(), String> {
        match classify(url) {
            Remote::Local(path) => {
                if requester::is_admin() || self.local_allowed(&path) {
                    Ok(())
                } else {
                    Err("Forbidden: local repositories are allowed only for cluster administrators (group system:masters) or under a directory the server allows (--allow-local-repositories)".into())
                }
            }
            Remote::Other(_) if requester::is_admin() => Ok(()),
            Remote::Other(message) => Err(message),
            Remote::Network { host, port } => {
                if self.remote_hosts.is_empty()
                    || self.remote_hosts.iter().any(|p| host_matches(p, &host, port))
                {
                    Ok(())
                } else {
                    Err(format!(
                        "Forbidden: host {host:?} is not one the server may reach (--allow-remote-hosts)"
                    ))
                }
            }
        }
    }

    /// Whether `path` is under an allowed directory, as written and once symbolic links are
    /// resolved (when it exists; when it does not, the open fails later either way).
    fn local_allowed(&self, path: &Path) -> bool {
        let Some(path) = normalize(path) else { return false };
        let under = |p: &Path| self.local_dirs.iter().any(|dir| p.starts_with(dir));
        if !under(&path) {
            return false;
        }
        match path.canonicalize() {
            Ok(real) => under(&real),
            Err(_) => true,
        }
    }
}

/// Where `url` points, as Git reads it.
fn classify(url: &str) -> Remote {
    let url = url.trim();
    // Git's `transport::address` remote helpers (`ext::`, `fd::`) run commands.
    if let Some((transport, _)) = url.split_once("::")
        && !transport.contains('/')
        && !transport.starts_with('[')
    {
        return Remote::Other(format!(
            "unsupported transport {transport:?}: use https://, http://, ssh:// or a local path"
        ));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "file" {
            // `file:///path` and `file://localhost/path`, percent-decoded as libgit2 reads
            // them (else `..%2F` would pass as one harmless component).
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            return match percent_decode(path) {
                Some(path) => Remote::Local(PathBuf::from(path)),
                None => Remote::Other("invalid percent-encoding in the file URL".into()),
            };
        }
        if !matches!(scheme.as_str(), "http" | "https" | "ssh" | "git" | "git+ssh" | "ssh+git") {
            return Remote::Other(format!(
                "unsupported URL scheme {scheme:?}: use https://, http://, ssh:// or a local path"
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let (host, port) = split_port(host_port);
        if host.is_empty() {
            return Remote::Other("the URL names no host".into());
        }
        // Only what a host name or address is made of: an encoded or odd character could read
        // as another host to the transport than to the patterns.
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
        {
            return Remote::Other(format!("invalid host {host:?} in the URL"));
        }
        return Remote::Network { host, port };
    }
    // Git's rule: a colon before any slash makes `[user@]host:path` an SSH remote.
    if let Some((before, _)) = url.split_once(':')
        && !before.contains('/')
        && !before.is_empty()
    {
        let host = before.rsplit_once('@').map_or(before, |(_, host)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        return Remote::Network { host, port: None };
    }
    Remote::Local(PathBuf::from(url))
}

/// `%XX` sequences decoded; `None` for a malformed one or a result that is not UTF-8 or holds
/// a NUL.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.contains('\0'))
}

/// `host[:port]` or `[v6][:port]`, the host lower-cased.
fn split_port(host_port: &str) -> (String, Option<u16>) {
    if let Some(v6) = host_port.strip_prefix('[') {
        let (host, rest) = v6.split_once(']').unwrap_or((v6, ""));
        let port = rest.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host.to_ascii_lowercase(), port);
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            (host.to_ascii_lowercase(), port.parse().ok())
        }
        _ => (host_port.to_ascii_lowercase(), None),
    }
}

/// Whether `host` (with `port`, if the URL names one) matches `pattern`.
fn host_matches(pattern: &str, host: &str, port: Option<u16>) -> bool {
    let (pattern_host, pattern_port) = match pattern.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.is_empty() => (h, p.parse::<u16>().ok()),
        _ => (pattern, None),
    };
    let pattern_host = pattern_host.trim_start_matches('[').trim_end_matches(']');
    if pattern_port.is_some() && pattern_port != port {
        return false;
    }
    glob(pattern_host.as_bytes(), host.as_bytes())
}

/// `*`-only glob matching, iterative (no recursion on hostile patterns).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `path` made absolute (against the working directory) without `.` and `..`; `None` when a
/// `..` would climb above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requester::{User, as_user};

    fn local(path: &str) -> Remote {
        Remote::Local(PathBuf::from(path))
    }

    fn network(host: &str, port: Option<u16>) -> Remote {
        Remote::Network { host: host.into(), port }
    }

    fn other(url: &str) -> bool {
        matches!(classify(url), Remote::Other(_))
    }

    #[test]
    fn classifies_urls_as_git_does() {
        assert_eq!(classify("/srv/git/a.git"), local("/srv/git/a.git"));
        assert_eq!(classify("relative/a.git"), local("relative/a.git"));
        assert_eq!(classify("file:///srv/a"), local("/srv/a"));
        assert_eq!(classify("file://localhost/srv/a"), local("/srv/a"));
        assert_eq!(classify("file:///srv/a/..%2F..%2Fetc"), local("/srv/a/../../etc"));
        assert!(other("file:///srv/%zz"));
        assert!(other("file:///srv/%00"));
        assert_eq!(classify("https://Git.Example.com/a.git"), network("git.example.com", None));
        assert_eq!(classify("http://127.0.0.1:8080/a"), network("127.0.0.1", Some(8080)));
        assert_eq!(classify("ssh://git@host:2222/a"), network("host", Some(2222)));
        assert_eq!(classify("git@github.com:org/a.git"), network("github.com", None));
        assert_eq!(classify("http://[::1]:9/a"), network("::1", Some(9)));
        assert!(other("ext::sh -c id"));
        assert!(other("fd::3"));
        assert!(other("ftp://host/a"));
        assert!(other("https://evil.io%2f.example.com/a"));
        assert!(other("https:///a"));
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("github.com", "github.com", None));
        assert!(host_matches("github.com", "github.com", Some(443)));
        assert!(!host_matches("github.com", "api.github.com", None));
        assert!(host_matches("*.example.com", "git.example.com", None));
        assert!(!host_matches("*.example.com", "example.com.evil.io", None));
        assert!(host_matches("git.corp:8443", "git.corp", Some(8443)));
        assert!(!host_matches("git.corp:8443", "git.corp", Some(443)));
        assert!(!host_matches("git.corp:8443", "git.corp", None));
        assert!(!glob(b"a*a*a*a*a*a*b", &[b'a'; 200]));
    }

    fn user(groups: &[&str]) -> Option<User> {
        Some(User { name: "alice".into(), groups: groups.iter().map(|g| g.to_string()).collect() })
    }

    #[tokio::test]
    async fn local_paths_need_an_admin_or_an_allowed_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let allowed = dir.path().join("allowed");
        std::fs::create_dir(&allowed).expect("mkdir");
        std::fs::create_dir(allowed.join("a.git")).expect("mkdir");
        let policy = RemotePolicy::default().allow_local(&allowed).expect("allow");
        let inside = allowed.join("a.git").display().to_string();
        let missing = allowed.join("missing.git").display().to_string();
        let escape = format!("{}/../../etc", allowed.display());
        let encoded = format!("file://{}/..%2F..%2Fetc", allowed.display());
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc", allowed.join("link")).expect("symlink");
        let link = allowed.join("link").display().to_string();
        let check = |url: String| policy.check(&url);
        as_user(user(&["team-a"]), async {
            assert_eq!(check(inside.clone()), Ok(()));
            assert_eq!(check(format!("file://{inside}")), Ok(()));
            assert_eq!(check(missing.clone()), Ok(()), "under the directory, existing or not");
            // The same refusal for a path that exists and one that does not.
            let etc = check("/etc".into()).expect_err("outside");
            assert_eq!(check("/no/such/dir".into()), Err(etc.clone()));
            assert_eq!(check(escape.clone()), Err(etc.clone()));
            assert_eq!(check(encoded.clone()), Err(etc.clone()), "percent-encoded dot-dots");
            assert_eq!(check(link.clone()), Err(etc.clone()), "a link out of the directory");
            assert!(etc.starts_with("Forbidden: local repositories"), "{etc}");
        })
        .await;
        as_user(user(&["team-a"]), async {
            let refused = check("ext::sh -c id".into()).expect_err("a remote helper");
            assert!(refused.starts_with("unsupported transport \"ext\""), "{refused}");
        })
        .await;
        as_user(user(&["system:masters"]), async {
            assert_eq!(check("/etc".into()), Ok(()));
            assert_eq!(check("mem://anything".into()), Ok(()), "for the backend to judge");
        })
        .await;
        // Outside any request (the service itself).
        assert_eq!(check("/etc".into()), Ok(()));
    }

    #[tokio::test]
    async fn remote_hosts_are_restricted_only_when_patterns_are_given() {
        let open = RemotePolicy::default();
        let closed = RemotePolicy::default().allow_remote_host("*.example.com");
        as_user(user(&["system:masters"]), async {
            assert_eq!(open.check("http://169.254.169.254/latest"), Ok(()));
            assert_eq!(closed.check("https://git.example.com/a.git"), Ok(()));
            let refused = closed.check("http://169.254.169.254/latest").expect_err("refused");
            assert!(refused.contains("\"169.254.169.254\""), "{refused}");
            assert!(closed.check("git@github.com:org/a.git").is_err());
        })
        .await;
    }
}
