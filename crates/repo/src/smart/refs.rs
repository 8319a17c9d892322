//! Ref advertisements: the v0 list a `receive-pack` (or a v0 `upload-pack`) starts with, and
//! protocol v2's `ls-refs` for one branch.

use std::collections::{HashMap, HashSet};

use git2::Oid;

use super::{
    Failure,
    http::{self, Endpoint, Request},
    pktline::{self, Packet, Reader},
};
use crate::{auth::Auth, deadline::Deadline};

/// The largest advertisement read: about a million refs.
const MAX_ADVERTISEMENT: usize = 64 * 1024 * 1024;
/// The largest `ls-refs` answer read for one branch.
const MAX_LS_REFS: usize = 1024 * 1024;

/// The refs and capabilities a server advertised.
#[derive(Debug, Default)]
pub(crate) struct Advertisement {
    pub(crate) refs: HashMap<String, Oid>,
    pub(crate) capabilities: HashSet<String>,
}

impl Advertisement {
    /// Whether the server offers `capability` (with or without a value).
    pub(crate) fn offers(&self, capability: &str) -> bool {
        self.capabilities.contains(capability)
    }

    /// Every object id advertised.
    pub(crate) fn ids(&self) -> HashSet<Oid> {
        self.refs.values().copied().collect()
    }
}

/// Reads `GET info/refs?service=<service>`: the v0 advertisement of a smart server.
pub(crate) fn advertised(
    endpoint: &Endpoint,
    auth: Auth<'_>,
    deadline: &Deadline,
    service: &str,
) -> Result<Advertisement, Failure> {
    let path = format!("/info/refs?service={service}");
    let request =
        Request { method: "GET", path: &path, headers: &[], body: None, limit: MAX_ADVERTISEMENT };
    let response = http::send(endpoint, auth, deadline, &request)?;
    if response.status != 200 {
        return Err(Failure::Unsupported(format!("info/refs answered HTTP {}", response.status)));
    }
    let expected = format!("application/x-{service}-advertisement");
    if response.content_type.as_deref() != Some(expected.as_str()) {
        return Err(Failure::Unsupported("not a smart HTTP server".to_owned()));
    }
    parse_v0(&response.body, service).map_err(Failure::Unsupported)
}

/// Parses a v0 advertisement: `# service=...`, a flush, then `<id> <name>` lines, the first with
/// the capabilities after a NUL, and a flush. An empty repository advertises
/// `<zero id> capabilities^{}`.
pub(crate) fn parse_v0(body: &[u8], service: &str) -> Result<Advertisement, String> {
    let mut reader = Reader::new(body);
    let mut advertisement = Advertisement::default();
    let mut first = true;
    let header = format!("# service={service}");
    while let Some(packet) = reader.next_packet()? {
        let line = match packet {
            Packet::Data(line) => pktline::trim_newline(line),
            Packet::Flush if advertisement.refs.is_empty() && first => continue,
            Packet::Flush => break,
            Packet::Delimiter | Packet::ResponseEnd => {
                return Err("an unexpected v2 packet".to_owned());
            }
        };
        if line == header.as_bytes() {
            continue;
        }
        if line.starts_with(b"version ") {
            return Err("the server answered with another protocol version".to_owned());
        }
        let (line, capabilities) = match line.iter().position(|&b| b == 0) {
            Some(nul) => (&line[..nul], Some(&line[nul + 1..])),
            None => (line, None),
        };
        if let Some(capabilities) = capabilities.filter(|_| first) {
            let capabilities = String::from_utf8_lossy(capabilities);
            advertisement.capabilities = capabilities
                .split(' ')
                .filter(|c| !c.is_empty())
                .map(|c| c.split('=').next().unwrap_or(c).to_owned())
                .collect();
        }
        first = false;
        let (id, name) = parse_ref_line(line)?;
        if name == "capabilities^{}" || name.ends_with("^{}") {
            continue;
        }
        advertisement.refs.insert(name, id);
    }
    Ok(advertisement)
}

fn parse_ref_line(line: &[u8]) -> Result<(Oid, String), String> {
    let text = std::str::from_utf8(line).map_err(|_| "a ref line that is not UTF-8".to_owned())?;
    let (id, rest) =
        text.split_once(' ').ok_or_else(|| format!("a malformed ref line {text:?}"))?;
    if id.len() != 40 {
        return Err(format!("an object id of another hash than SHA-1: {id:?}"));
    }
    let id = Oid::from_str(id).map_err(|_| format!("an invalid object id {id:?}"))?;
    // ls-refs may add attributes after the name (`symref-target:...`, `peeled:...`).
    let name = rest.split(' ').next().unwrap_or(rest);
    Ok((id, name.to_owned()))
}

/// The current target of `branch` (a full ref name) on the remote, `None` when it does not
/// exist, asked with protocol v2's `ls-refs` so only that ref is sent.
pub(crate) fn branch_head(url: &str, auth: Auth<'_>, branch: &str) -> Result<Option<Oid>, Failure> {
    let endpoint = Endpoint::parse(url)
        .ok_or_else(|| Failure::Unsupported("not a plain http(s) URL".to_owned()))?;
    let deadline = Deadline::start();
    let v2 = [("Git-Protocol", "version=2")];
    let path = "/info/refs?service=git-upload-pack";
    let request =
        Request { method: "GET", path, headers: &v2, body: None, limit: MAX_ADVERTISEMENT };
    let response = http::send(&endpoint, auth, &deadline, &request)?;
    if response.status != 200
        || response.content_type.as_deref() != Some("application/x-git-upload-pack-advertisement")
    {
        return Err(Failure::Unsupported(format!("info/refs answered HTTP {}", response.status)));
    }
    if !speaks_v2(&response.body).map_err(Failure::Unsupported)? {
        // A v0 server advertised every ref already.
        let advertisement =
            parse_v0(&response.body, "git-upload-pack").map_err(Failure::Unsupported)?;
        return Ok(advertisement.refs.get(branch).copied());
    }
    let mut body = Vec::new();
    let command = |body: &mut Vec<u8>, line: &str| {
        pktline::write(body, line.as_bytes()).map_err(Failure::Unsupported)
    };
    command(&mut body, "command=ls-refs\n")?;
    command(&mut body, "object-format=sha1\n")?;
    body.extend_from_slice(b"0001");
    command(&mut body, &format!("ref-prefix {branch}\n"))?;
    pktline::flush(&mut body);
    let request = Request {
        method: "POST",
        path: "/git-upload-pack",
        headers: &[
            ("Git-Protocol", "version=2"),
            ("Accept", "application/x-git-upload-pack-result"),
        ],
        body: Some(("application/x-git-upload-pack-request", &body)),
        limit: MAX_LS_REFS,
    };
    let response = http::send(&endpoint, auth, &deadline, &request)?;
    if response.status != 200 {
        return Err(Failure::Unsupported(format!("ls-refs answered HTTP {}", response.status)));
    }
    let mut reader = Reader::new(&response.body);
    while let Some(packet) = reader.next_packet().map_err(Failure::Unsupported)? {
        let Packet::Data(line) = packet else { break };
        let (id, name) =
            parse_ref_line(pktline::trim_newline(line)).map_err(Failure::Unsupported)?;
        if name == branch {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Whether a v2 capability advertisement (`version 2`, after an optional `# service=` header)
/// starts `body`.
fn speaks_v2(body: &[u8]) -> Result<bool, String> {
    let mut reader = Reader::new(body);
    while let Some(packet) = reader.next_packet()? {
        match packet {
            Packet::Data(line) if line.starts_with(b"# service=") => continue,
            Packet::Flush => continue,
            Packet::Data(line) => return Ok(pktline::trim_newline(line) == b"version 2"),
            _ => return Ok(false),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(lines: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            if line.is_empty() {
                pktline::flush(&mut out);
            } else {
                pktline::write(&mut out, line).unwrap();
            }
        }
        out
    }

    #[test]
    fn parses_a_receive_pack_advertisement() {
        let a = "1111111111111111111111111111111111111111";
        let b = "2222222222222222222222222222222222222222";
        let body = packets(&[
            b"# service=git-receive-pack\n",
            b"",
            format!("{a} refs/heads/main\0report-status delete-refs ofs-delta agent=git/2.47\n")
                .as_bytes(),
            format!("{b} refs/tags/p/v1\n").as_bytes(),
            b"",
        ]);
        let ad = parse_v0(&body, "git-receive-pack").unwrap();
        assert_eq!(ad.refs.len(), 2);
        assert_eq!(ad.refs["refs/tags/p/v1"].to_string(), b);
        assert!(ad.offers("report-status") && ad.offers("agent") && !ad.offers("atomic"));
    }

    #[test]
    fn parses_the_advertisement_of_an_empty_repository() {
        let zero = "0000000000000000000000000000000000000000";
        let body = packets(&[
            b"# service=git-receive-pack\n",
            b"",
            format!("{zero} capabilities^{{}}\0report-status ofs-delta\n").as_bytes(),
            b"",
        ]);
        let ad = parse_v0(&body, "git-receive-pack").unwrap();
        assert!(ad.refs.is_empty());
        assert!(ad.offers("ofs-delta"));
    }

    #[test]
    fn refuses_garbage() {
        for body in
            [&b"0010not a ref!\n"[..], b"0032zzzz111111111111111111111111111111111111 r\n", b"00"]
        {
            assert!(parse_v0(body, "git-receive-pack").is_err(), "{body:?}");
        }
        let v2 = packets(&[b"version 2\n", b"ls-refs\n", b""]);
        assert!(speaks_v2(&v2).unwrap());
        assert!(parse_v0(&v2, "git-upload-pack").is_err());
    }
}
