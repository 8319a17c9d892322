//! libgit2's credential and certificate callbacks for one repository's transfers: who we are
//! (basic auth, an SSH key) and whether the remote is who it claims to be (an SSH host key
//! listed in known_hosts, a TLS certificate signed by the repository's CA bundle).
//!
//! # SSH host keys
//!
//! libgit2 looks the server's host key up in the `~/.ssh/known_hosts` of the process's user and
//! then hands the raw key to the `certificate_check` callback, whose answer replaces that
//! verdict; we never pass it through. We answer from the `known_hosts` text of
//! [`Credentials::Ssh`] only ([`known_hosts`]): the host must be listed (as `host`, or
//! `[host]:port` for a port other than 22, plain or hashed) with exactly the key the server
//! presented. A host that is not listed, a key that does not match, a key marked `@revoked`, and
//! an SSH remote without known_hosts all fail the operation with "host key verification failed
//! for HOST: ...". There is no trust-on-first-use: the first connection is checked like every
//! other.
//!
//! libgit2 chooses the host key algorithm it asks the server for from the known_hosts file in
//! the home directory of the process's user (whose verdict our answer then replaces), not from
//! ours; with no entry there, libssh2's default order applies (ECDSA before Ed25519 before
//! RSA). A server with several host keys (GitHub has three) may therefore present a key of a
//! type the repository's known_hosts does not list, which fails (never falls back to trusting
//! it): known_hosts should list every host key of the server, as `ssh-keyscan HOST` prints
//! them. The error names the type and fingerprint the server presented.
//!
//! # A private CA for HTTPS
//!
//! libgit2's OpenSSL stream verifies a server against the process's trust store, which
//! `git2::opts::set_ssl_cert_file`/`set_ssl_cert_dir` can change only for the whole process (every
//! repository, every thread, at once) — unusable for a bundle that belongs to one repository.
//! The per-repository place is the `certificate_check` callback: libgit2 calls it after the TLS
//! handshake with the server's leaf certificate and its own verdict, and an answer of "ok" or an
//! error replaces that verdict. With a [`GitConfig::ca_bundle`](crate::GitConfig::ca_bundle) we
//! verify the leaf ourselves with OpenSSL ([`tls::verify`]): the bundle's certificates are the
//! only trust anchors (the system's are not consulted, as with git's `http.sslCAInfo`), any of
//! them may be an intermediate (partial chains are accepted), and the certificate must name the
//! host (DNS name or IP address). libgit2 shows the callback the leaf only, not the intermediates
//! the server sent, so a bundle must hold the CA that issued the server's certificate. Without a
//! bundle, libgit2's own verdict against the system store stands.

use std::cell::RefCell;

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use crate::Credentials;

/// The user name of an SSH remote whose URL names none and whose credentials set none.
pub const DEFAULT_SSH_USER: &str = "git";

/// libgit2 asks for credentials again after every rejection; answering forever would loop
/// forever on wrong credentials, so give up after this many attempts.
const MAX_CREDENTIAL_ATTEMPTS: u32 = 2;

/// How one repository authenticates itself and its remote.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Auth<'a> {
    /// Credentials for the remote.
    pub credentials: Option<&'a Credentials>,
    /// PEM certificates trusted for HTTPS instead of the system's.
    pub ca_bundle: Option<&'a str>,
}

/// Why our certificate check refused a remote. libgit2 replaces the callback's error with a
/// generic "invalid or unknown remote ssh hostkey" for SSH, so the reason is kept here and put
/// back by [`Refusal::explain`] once the operation has failed.
#[derive(Debug, Default)]
pub(crate) struct Refusal(RefCell<Option<String>>);

impl Refusal {
    /// `err` with our reason as its message if the certificate check refused the remote.
    pub(crate) fn explain(&self, err: git2::Error) -> git2::Error {
        match self.0.borrow_mut().take() {
            Some(reason) => git2::Error::new(err.code(), err.class(), reason),
            None => err,
        }
    }

    fn refuse(&self, reason: String) -> git2::Error {
        let err = git2::Error::from_str(&reason);
        *self.0.borrow_mut() = Some(reason);
        err
    }
}

/// Callbacks answering credentials and certificate checks for a transfer with `url`; a refused
/// certificate leaves its reason in `refusal`.
pub(crate) fn callbacks<'a>(
    auth: Auth<'a>,
    url: &str,
    refusal: &'a Refusal,
) -> RemoteCallbacks<'a> {
    let credentials = auth.credentials;
    let ssh_port = ssh_port(url);
    let mut attempts = 0;
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, username_from_url, allowed| {
        if let Some(Credentials::Ssh { username, private_key, passphrase, .. }) = credentials {
            let user = username_from_url.or(username.as_deref()).unwrap_or(DEFAULT_SSH_USER);
            if allowed.contains(CredentialType::SSH_MEMORY)
                || allowed.contains(CredentialType::SSH_KEY)
            {
                attempts += 1;
                if attempts > MAX_CREDENTIAL_ATTEMPTS {
                    return Err(git2::Error::from_str(
                        "authentication failed: the SSH key was rejected",
                    ));
                }
                return Cred::ssh_key_from_memory(user, None, private_key, passphrase.as_deref());
            }
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(user);
            }
        }
        attempts += 1;
        if attempts > MAX_CREDENTIAL_ATTEMPTS {
            return Err(git2::Error::from_str("authentication failed: credentials were rejected"));
        }
        match credentials {
            Some(Credentials::Basic { username, password })
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                Cred::userpass_plaintext(username, password)
            }
            _ => Err(git2::Error::from_str(
                "authentication required but no usable credentials are configured",
            )),
        }
    });
    let ca_bundle = auth.ca_bundle;
    callbacks.certificate_check(move |cert, host| {
        if let Some(hostkey) = cert.as_hostkey() {
            let failed = |reason: &str| {
                refusal.refuse(format!("host key verification failed for {host}: {reason}"))
            };
            let Some(known) = (match credentials {
                Some(Credentials::Ssh { known_hosts, .. }) => known_hosts.as_deref(),
                _ => None,
            }) else {
                return Err(failed(
                    "no known_hosts is configured for this repository (host keys are never \
                     trusted on first use)",
                ));
            };
            let Some(key) = hostkey.hostkey() else {
                return Err(failed("the SSH transport did not report the server's host key"));
            };
            known_hosts::verify(known, host, ssh_port.unwrap_or(22), key)
                .map_err(|reason| failed(&reason))?;
            return Ok(CertificateCheckStatus::CertificateOk);
        }
        if let (Some(x509), Some(bundle)) = (cert.as_x509(), ca_bundle) {
            tls::verify(bundle, host, x509.data()).map_err(|reason| {
                refusal.refuse(format!("TLS certificate verification failed for {host}: {reason}"))
            })?;
            return Ok(CertificateCheckStatus::CertificateOk);
        }
        Ok(CertificateCheckStatus::CertificatePassthrough)
    });
    callbacks
}

/// The port of an `ssh://` URL (`None` when it names none, or for other schemes); scp-like
/// `host:path` URLs always use port 22.
fn ssh_port(url: &str) -> Option<u16> {
    let rest = ["ssh://", "git+ssh://", "ssh+git://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))?;
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let port = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.1.strip_prefix(':')?,
        None => host_port.rsplit_once(':')?.1,
    };
    port.parse().ok()
}

/// The `known_hosts` format of OpenSSH (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), as far as a
/// client that checks one raw key needs it.
pub(crate) mod known_hosts {
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};

    /// Checks that `key` (the SSH wire encoding of the server's public key) is listed for
    /// `host` at `port` in `text`. The error says why not, naming the key by its SHA-256
    /// fingerprint.
    ///
    /// Lines are `[marker] hosts keytype base64-key [comment]`; `hosts` is a comma-separated list
    /// of patterns (`*` and `?` wildcards, `!` negates) or one hashed entry `|1|salt|hash`
    /// (HMAC-SHA1 of the name keyed with the salt). A port other than 22 is matched only by the
    /// name `[host]:port`. Comments, blank and malformed lines are skipped; `@cert-authority`
    /// lines are skipped too (host certificates are not supported, so they trust nothing); a key
    /// on any `@revoked` line is refused whatever its hosts.
    pub fn verify(text: &str, host: &str, port: u16, key: &[u8]) -> Result<(), String> {
        let host = host.to_ascii_lowercase();
        let name = if port == 22 { host } else { format!("[{host}]:{port}") };
        let mut listed_types: Vec<String> = Vec::new();
        let mut matched = false;
        for line in text.lines() {
            let Some(entry) = Entry::parse(line) else { continue };
            match entry.marker {
                Some("@revoked") if entry.key == key => {
                    return Err(format!(
                        "the server's key {} is marked @revoked in known_hosts",
                        fingerprint(key)
                    ));
                }
                Some(_) => continue,
                None => {}
            }
            if !entry.matches(&name) {
                continue;
            }
            if entry.key == key {
                matched = true;
            } else if !listed_types.iter().any(|t| t == entry.keytype) {
                listed_types.push(entry.keytype.to_owned());
            }
        }
        if matched {
            return Ok(());
        }
        let presented_type = key_type(key);
        let presented = format!("{presented_type} key {}", fingerprint(key));
        if listed_types.is_empty() {
            return Err(format!(
                "{name} is not listed in known_hosts (the server presented the {presented})"
            ));
        }
        // The SSH transport picks the host key algorithm without looking at our known_hosts
        // (see the module documentation), so a server with several keys may present one of a
        // type that is not listed.
        let hint = if listed_types.contains(&presented_type) {
            ""
        } else {
            "; list every host key of the server (as `ssh-keyscan` prints them)"
        };
        Err(format!(
            "the server presented the {presented}, which does not match the {} key(s) known_hosts lists for {name}{hint}",
            listed_types.join(", ")
        ))
    }

    struct Entry<'a> {
        marker: Option<&'a str>,
        hosts: &'a str,
        keytype: &'a str,
        key: Vec<u8>,
    }

    impl<'a> Entry<'a> {
        fn parse(line: &'a str) -> Option<Entry<'a>> {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let mut fields = line.split_ascii_whitespace();
            let mut first = fields.next()?;
            let marker = if first.starts_with('@') {
                let marker = first;
                first = fields.next()?;
                Some(marker)
            } else {
                None
            };
            let keytype = fields.next()?;
            let key = openssl::base64::decode_block(fields.next()?).ok()?;
            if key.is_empty() {
                return None;
            }
            Some(Entry { marker, hosts: first, keytype, key })
        }

        fn matches(&self, name: &str) -> bool {
            if let Some(hashed) = self.hosts.strip_prefix("|1|") {
                return hashed_matches(hashed, name);
            }
            let mut positive = false;
            for pattern in self.hosts.split(',') {
                match pattern.strip_prefix('!') {
                    Some(negated) if glob(&negated.to_ascii_lowercase(), name) => return false,
                    Some(_) => {}
                    None => positive |= glob(&pattern.to_ascii_lowercase(), name),
                }
            }
            positive
        }
    }

    fn hashed_matches(hashed: &str, name: &str) -> bool {
        let Some((salt, hash)) = hashed.split_once('|') else { return false };
        let (Ok(salt), Ok(hash)) =
            (openssl::base64::decode_block(salt), openssl::base64::decode_block(hash))
        else {
            return false;
        };
        let mac = PKey::hmac(&salt).and_then(|pkey| {
            let mut signer = Signer::new(MessageDigest::sha1(), &pkey)?;
            signer.update(name.as_bytes())?;
            signer.sign_to_vec()
        });
        // `memcmp::eq` panics on slices of different lengths.
        mac.is_ok_and(|mac| mac.len() == hash.len() && openssl::memcmp::eq(&mac, &hash))
    }

    /// OpenSSH's pattern matching: `*` any run of characters, `?` one character.
    fn glob(pattern: &str, name: &str) -> bool {
        let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
        let (mut p, mut n) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while n < name.len() {
            if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
                p += 1;
                n += 1;
            } else if p < pattern.len() && pattern[p] == b'*' {
                backtrack = Some((p, n));
                p += 1;
            } else if let Some((star, matched)) = backtrack {
                p = star + 1;
                n = matched + 1;
                backtrack = Some((star, matched + 1));
            } else {
                return false;
            }
        }
        pattern[p..].iter().all(|&c| c == b'*')
    }

    /// The algorithm name a wire-encoded key starts with, e.g. `ssh-ed25519`.
    fn key_type(key: &[u8]) -> String {
        let length = key.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        match length.and_then(|length| key.get(4..4 + length)) {
            Some(name) => String::from_utf8_lossy(name).into_owned(),
            None => "unknown".to_owned(),
        }
    }

    /// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(key: &[u8]) -> String {
        let digest = openssl::sha::sha256(key);
        let encoded = openssl::base64::encode_block(&digest);
        format!("SHA256:{}", encoded.trim_end_matches('='))
    }
}

/// Verification of a server certificate against a repository's own CA bundle.
pub(crate) mod tls {
    use std::net::IpAddr;

    use openssl::{
        stack::Stack,
        x509::{
            X509, X509StoreContext,
            store::X509StoreBuilder,
            verify::{X509VerifyFlags, X509VerifyParam},
        },
    };

    /// Checks that the DER certificate `leaf` chains to a certificate of the PEM `bundle` and
    /// names `host`.
    pub fn verify(bundle: &str, host: &str, leaf: &[u8]) -> Result<(), String> {
        let anchors = X509::stack_from_pem(bundle.as_bytes())
            .map_err(|err| format!("the CA bundle is not valid PEM: {err}"))?;
        if anchors.is_empty() {
            return Err("the CA bundle holds no certificates".to_owned());
        }
        let leaf = X509::from_der(leaf)
            .map_err(|err| format!("the server's certificate cannot be parsed: {err}"))?;
        let internal = |err: openssl::error::ErrorStack| format!("OpenSSL: {err}");
        let mut param = X509VerifyParam::new().map_err(internal)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => param.set_ip(ip).map_err(internal)?,
            Err(_) => param.set_host(bare).map_err(internal)?,
        }
        let mut store = X509StoreBuilder::new().map_err(internal)?;
        for anchor in anchors {
            store.add_cert(anchor).map_err(internal)?;
        }
        store.set_flags(X509VerifyFlags::PARTIAL_CHAIN).map_err(internal)?;
        store.set_param(&param).map_err(internal)?;
        let store = store.build();
        let chain = Stack::new().map_err(internal)?;
        let mut context = X509StoreContext::new().map_err(internal)?;
        let (ok, error) = context
            .init(&store, &leaf, &chain, |context| Ok((context.verify_cert()?, context.error())))
            .map_err(internal)?;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "the server's certificate is not trusted by the repository's CA bundle: {}",
                error.error_string()
            ))
        }
    }
}

#[cfg(test)]
mod tests;
