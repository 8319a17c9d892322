//! A push over smart HTTP: `git-receive-pack`'s advertisement, the commands and our pack, and
//! the status report (gitprotocol-pack(5), "Pushing Data To a Server").

use git2::{Oid, Repository};

use super::{
    Failure,
    http::{self, Endpoint, Request},
    objects,
    pktline::{self, Packet, Reader},
    refs,
};
use crate::{Error, RefUpdate, auth::Auth, deadline::Deadline, transport};

/// The largest status report read.
const MAX_REPORT: usize = 1024 * 1024;
const AGENT: &str = concat!("agent=veranda/", env!("CARGO_PKG_VERSION"));

/// Pushes `updates` to the repository at `url` (already validated against the cache) and
/// mirrors the accepted ones into the tracking refs, as [`transport::push`] does.
pub(crate) fn push(
    repo: &Repository,
    url: &str,
    auth: Auth<'_>,
    updates: &[RefUpdate],
) -> Result<(), Failure> {
    let endpoint = Endpoint::parse(url)
        .ok_or_else(|| Failure::Unsupported("not a plain http(s) URL".to_owned()))?;
    let deadline = Deadline::start();
    let advertisement = refs::advertised(&endpoint, auth, &deadline, "git-receive-pack")?;
    let deletes = updates.iter().any(|u| u.new.is_none());
    let sets = updates.iter().any(|u| u.new.is_some());
    for (capability, needed) in
        [("report-status", true), ("delete-refs", deletes), ("ofs-delta", sets)]
    {
        if needed && !advertisement.offers(capability) {
            return Err(Failure::Unsupported(format!("the server does not offer {capability}")));
        }
    }

    let mut commands = Vec::new();
    let mut tips = Vec::new();
    for update in updates {
        let old = advertisement.refs.get(&update.name).copied().unwrap_or(Oid::ZERO_SHA1);
        let new = match &update.new {
            Some(new) => transport::parse_oid(new)?,
            None => Oid::ZERO_SHA1,
        };
        transport::check_update(repo, update, old, new)?;
        if old == new {
            continue;
        }
        if !new.is_zero() {
            tips.push(new);
        }
        commands.push((old, new, update.name.as_str()));
    }
    if commands.is_empty() {
        transport::mirror(repo, updates)?;
        return Ok(());
    }

    let mut body = Vec::new();
    let mut capabilities = vec!["report-status", AGENT];
    if commands.len() > 1 && advertisement.offers("atomic") {
        capabilities.push("atomic");
    }
    if sets {
        capabilities.push("ofs-delta");
    }
    for (i, (old, new, name)) in commands.iter().enumerate() {
        let mut line = format!("{old} {new} {name}");
        if i == 0 {
            line.push('\0');
            line.push_str(&capabilities.join(" "));
        }
        line.push('\n');
        pktline::write(&mut body, line.as_bytes()).map_err(Failure::Unsupported)?;
    }
    pktline::flush(&mut body);
    if commands.iter().any(|(_, new, _)| !new.is_zero()) {
        let (pack, objects) = objects::pack(repo, &tips, &advertisement.ids())?;
        tracing::debug!(objects, bytes = pack.len(), "pushing over smart HTTP");
        body.extend_from_slice(&pack);
    }

    let request = Request {
        method: "POST",
        path: "/git-receive-pack",
        headers: &[("Accept", "application/x-git-receive-pack-result")],
        body: Some(("application/x-git-receive-pack-request", &body)),
        limit: MAX_REPORT,
    };
    let response = http::send(&endpoint, auth, &deadline, &request)?;
    if response.status != 200 {
        return Err(Failure::Unsupported(format!(
            "git-receive-pack answered HTTP {}",
            response.status
        )));
    }
    let report = parse_report(&response.body).map_err(Failure::Unsupported)?;
    if let Some(problem) = report.unpack {
        return Err(Failure::Unsupported(format!(
            "the server could not unpack our pack: {problem}"
        )));
    }
    let nothing_moved = report.rejected.len() >= commands.len();
    if nothing_moved && report.rejected.iter().any(|(_, m)| m.contains("missing necessary objects"))
    {
        // Our pack lacked something the remote does not have after all: libgit2 negotiates.
        return Err(Failure::Unsupported("the remote lacks objects our pack left out".to_owned()));
    }
    if !report.rejected.is_empty() && report.rejected.iter().all(|(_, m)| ambiguous(m)) {
        // receive-pack reports a ref that moved under its lock only on its error stream; the
        // refs tell whether that is what happened.
        if let Ok(now) = refs::advertised(&endpoint, auth, &deadline, "git-receive-pack") {
            for (old, _, name) in &commands {
                let current = now.refs.get(*name).copied().unwrap_or(Oid::ZERO_SHA1);
                if current != *old {
                    return Err(Error::Conflict {
                        refname: (*name).to_owned(),
                        message: format!("expected {old}, found {current}"),
                    }
                    .into());
                }
            }
        }
    }
    finish(repo, updates, report.rejected)
}

/// Whether a refusal does not say why: a failed ref transaction, atomic or not.
fn ambiguous(message: &str) -> bool {
    message.contains("atomic") || message.contains("failed to update ref")
}

/// Mirrors what the remote accepted and reports the first refusal: a ref that moved under us
/// is a conflict, anything else the remote's own refusal.
fn finish(
    repo: &Repository,
    updates: &[RefUpdate],
    rejected: Vec<(String, String)>,
) -> Result<(), Failure> {
    let accepted: Vec<RefUpdate> = updates
        .iter()
        .filter(|update| !rejected.iter().any(|(name, _)| *name == update.name))
        .cloned()
        .collect();
    transport::mirror(repo, &accepted)?;
    // Under `atomic` the other refs fail with "atomic push failed": report the cause.
    let cause =
        rejected.iter().find(|(_, message)| !message.contains("atomic")).or(rejected.first());
    match cause {
        None => Ok(()),
        Some((refname, message)) if moved_concurrently(message) => {
            Err(Error::Conflict { refname: refname.clone(), message: message.clone() }.into())
        }
        Some((refname, message)) => {
            Err(Error::PushRejected { refname: refname.clone(), message: message.clone() }.into())
        }
    }
}

/// Whether receive-pack refused a ref because it no longer had the old value we sent (it
/// moved between the advertisement and the update).
fn moved_concurrently(message: &str) -> bool {
    [
        "but expected",
        "stale info",
        "fetch first",
        "non-fast-forward",
        "failed to lock",
        "cannot lock ref",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

/// A status report.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Report {
    /// Why the pack was not unpacked, if it was not.
    unpack: Option<String>,
    /// The refs refused, with the reasons given.
    rejected: Vec<(String, String)>,
}

/// Parses `unpack ok|<error>` then `ok <ref>` / `ng <ref> <reason>` lines, up to a flush.
pub(super) fn parse_report(body: &[u8]) -> Result<Report, String> {
    let mut reader = Reader::new(body);
    let mut report = Report::default();
    let mut unpacked = false;
    while let Some(packet) = reader.next_packet()? {
        let Packet::Data(line) = packet else { break };
        let line = String::from_utf8_lossy(pktline::trim_newline(line)).into_owned();
        if let Some(status) = line.strip_prefix("unpack ") {
            unpacked = true;
            if status != "ok" {
                report.unpack = Some(status.to_owned());
            }
        } else if line.starts_with("ok ") {
            continue;
        } else if let Some(rest) = line.strip_prefix("ng ") {
            let (name, reason) = rest.split_once(' ').unwrap_or((rest, "rejected"));
            report.rejected.push((name.to_owned(), reason.to_owned()));
        } else {
            return Err(format!("an unexpected status line {line:?}"));
        }
    }
    if !unpacked {
        return Err("a status report without an unpack status".to_owned());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            pktline::write(&mut out, line.as_bytes()).unwrap();
        }
        pktline::flush(&mut out);
        out
    }

    #[test]
    fn parses_status_reports() {
        let ok = parse_report(&report(&["unpack ok\n", "ok refs/heads/main\n"])).unwrap();
        assert_eq!(ok, Report::default());
        let ng = parse_report(&report(&[
            "unpack ok\n",
            "ng refs/heads/main atomic push failed\n",
            "ng refs/tags/p/v1 pre-receive hook declined\n",
        ]))
        .unwrap();
        assert_eq!(ng.rejected.len(), 2);
        assert_eq!(ng.rejected[1].1, "pre-receive hook declined");
        let unpack = parse_report(&report(&["unpack index-pack failed\n"])).unwrap();
        assert_eq!(unpack.unpack.as_deref(), Some("index-pack failed"));
        assert!(parse_report(&report(&["ok refs/heads/main\n"])).is_err());
        assert!(parse_report(b"zzzz").is_err());
    }

    #[test]
    fn tells_races_from_refusals() {
        assert!(moved_concurrently("cannot lock ref 'refs/heads/main': is at 1 but expected 2"));
        assert!(!moved_concurrently("pre-receive hook declined"));
    }
}
