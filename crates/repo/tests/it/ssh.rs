//! Fetch and push over SSH against a real sshd (see `ssh_server.rs`): keys from memory, host keys
//! checked against known_hosts, and clear failures for every way that check or the login fails.

use std::{fs, path::PathBuf};

use veranda_repo::{Credentials, Error, GitConfig, GitRepo};

use crate::{
    ssh_server::{KeyPair, SshServer, keygen},
    util::{Scratch, create_draft, files, find, git, kptfile},
};

struct Setup {
    scratch: Scratch,
    remote: PathBuf,
    client: KeyPair,
    server: SshServer,
}

fn setup() -> Setup {
    let scratch = Scratch::new();
    fs::create_dir_all(scratch.path("served")).expect("create served dir");
    let remote = scratch.blueprints("served/blueprints.git");
    let client = keygen(&scratch.path("keys"), "client", "ed25519", "");
    let server = SshServer::start(&scratch.path("sshd"), &client);
    Setup { scratch, remote, client, server }
}

fn ssh(key: &KeyPair, known_hosts: Option<String>) -> Option<Credentials> {
    Some(Credentials::Ssh {
        username: None,
        private_key: key.private.clone(),
        passphrase: None,
        known_hosts,
    })
}

impl Setup {
    fn config(&self, cache: &str, credentials: Option<Credentials>) -> GitConfig {
        let mut cfg = self.scratch.config(&self.server.url(&self.remote), cache);
        cfg.credentials = credentials;
        cfg
    }

    /// Opening with `credentials` fails; the error, which is returned, never shows the key.
    fn open_fails(&self, cache: &str, credentials: Option<Credentials>) -> String {
        let err = GitRepo::open(self.config(cache, credentials)).err().expect("open fails");
        assert!(matches!(err, Error::Git(_)), "{err:?}");
        let text = format!("{err} {err:?}");
        for line in self.client.private.lines().filter(|line| !line.starts_with("-----")) {
            assert!(!text.contains(line), "the error shows the private key: {text}");
        }
        text
    }
}

#[test]
fn fetch_and_push_over_ssh() {
    let setup = setup();
    let cfg = setup.config("cache", ssh(&setup.client, Some(setup.server.known_hosts())));
    let repo = GitRepo::open(cfg.clone()).expect("open over ssh");
    assert_eq!(repo.list().expect("list").len(), 16);

    let draft = create_draft(&repo, "web", "ws", &files(&[("Kptfile", &kptfile("web"))]));
    assert_eq!(git(&setup.remote, &["rev-parse", "drafts/web/ws"]), draft);
    let approved =
        repo.approve("web", "ws", &draft, 1, &repo.draft_ref("web", "ws")).expect("approve");
    assert_eq!(git(&setup.remote, &["rev-parse", "main"]), approved);
    assert_eq!(git(&setup.remote, &["rev-parse", "web/v1"]), approved);
    assert!(git(&setup.remote, &["branch", "--list", "drafts/*"]).is_empty());

    // A second cache sees the pushes through fetch, with a hashed known_hosts.
    let known_hosts = setup.scratch.path("known_hosts");
    fs::write(&known_hosts, setup.server.known_hosts()).expect("write known_hosts");
    let status = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&known_hosts)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run ssh-keygen -H");
    assert!(status.success());
    let hashed = fs::read_to_string(&known_hosts).expect("read hashed known_hosts");
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let other = GitRepo::open(setup.config("cache-2", ssh(&setup.client, Some(hashed.clone()))))
        .expect("open with a hashed known_hosts");
    assert_eq!(find(&other.list().expect("list"), "web", "main").commit, approved);

    // An upstream read from the SSH URL.
    let fetched = veranda_repo::fetch_package(
        &setup.server.url(&setup.remote),
        "v1",
        "web",
        ssh(&setup.client, Some(hashed)).as_ref(),
        None,
        &Default::default(),
        &setup.scratch.path("upstream-cache"),
    )
    .expect("read an upstream package over ssh");
    assert_eq!(fetched.commit, approved);
    assert!(fetched.files.contains_key("Kptfile"));
}

#[test]
fn an_encrypted_key_with_its_passphrase() {
    let setup = setup();
    // The server lets in `client`; give it the same key encrypted.
    let path = setup.scratch.path("keys/client");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", "pass phrase", "-P", "", "-f"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run ssh-keygen -p");
    assert!(status.success());
    let encrypted = fs::read_to_string(&path).expect("read encrypted key");
    let credentials = |passphrase: Option<&str>| {
        Some(Credentials::Ssh {
            username: None,
            private_key: encrypted.clone(),
            passphrase: passphrase.map(str::to_owned),
            known_hosts: Some(setup.server.known_hosts()),
        })
    };
    let repo = GitRepo::open(setup.config("cache", credentials(Some("pass phrase"))))
        .expect("open with an encrypted key");
    assert_eq!(repo.list().expect("list").len(), 16);
    let err = setup.open_fails("cache-bad", credentials(Some("wrong")));
    assert!(!err.contains("pass phrase"), "{err}");
}

#[test]
fn a_host_key_that_does_not_match_fails() {
    let setup = setup();
    let impostor = keygen(&setup.scratch.path("keys"), "impostor", "ed25519", "");
    let known_hosts = format!("[127.0.0.1]:{} {}\n", setup.server.port(), impostor.public_key());
    let err = setup.open_fails("cache", ssh(&setup.client, Some(known_hosts)));
    assert!(err.contains("host key verification failed for 127.0.0.1"), "{err}");
    assert!(err.contains("does not match"), "{err}");

    // Listed for port 22 only: not this server.
    let port_22 = format!("127.0.0.1 {}\n", setup.server.known_hosts().split_once(' ').unwrap().1);
    let err = setup.open_fails("cache-2", ssh(&setup.client, Some(port_22)));
    assert!(err.contains("is not listed in known_hosts"), "{err}");

    // The right key, revoked.
    let revoked = format!(
        "{}@revoked * {}",
        setup.server.known_hosts(),
        setup.server.known_hosts().split_once(' ').unwrap().1
    );
    let err = setup.open_fails("cache-3", ssh(&setup.client, Some(revoked)));
    assert!(err.contains("@revoked"), "{err}");
}

#[test]
fn no_known_hosts_fails() {
    let setup = setup();
    let err = setup.open_fails("cache", ssh(&setup.client, None));
    assert!(err.contains("host key verification failed for 127.0.0.1"), "{err}");
    assert!(err.contains("no known_hosts"), "{err}");
    // No SSH credentials at all: the host key is not trusted either.
    let err = setup.open_fails("cache-2", None);
    assert!(err.contains("host key verification failed"), "{err}");
}

#[test]
fn a_key_the_server_does_not_know_fails_authentication() {
    let setup = setup();
    let stranger = keygen(&setup.scratch.path("keys"), "stranger", "ed25519", "");
    let err =
        GitRepo::open(setup.config("cache", ssh(&stranger, Some(setup.server.known_hosts()))))
            .err()
            .expect("authentication fails");
    let text = format!("{err} {err:?}");
    assert!(text.contains("authentication failed: the SSH key was rejected"), "{text}");
    for line in stranger.private.lines().filter(|line| !line.starts_with("-----")) {
        assert!(!text.contains(line), "the error shows the private key: {text}");
    }
    // A key that is not a key.
    let garbage = Some(Credentials::Ssh {
        username: None,
        private_key: "not a key".into(),
        passphrase: None,
        known_hosts: Some(setup.server.known_hosts()),
    });
    let err = setup.open_fails("cache-2", garbage);
    assert!(!err.contains("not a key"), "{err}");
}

/// Rewrites the key `name` in `dir` in the legacy PEM format (`-----BEGIN RSA PRIVATE KEY-----`).
fn to_pem(dir: &std::path::Path, name: &str) -> KeyPair {
    let path = dir.join(name);
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-m", "PEM", "-N", "", "-P", "", "-f"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run ssh-keygen -p -m PEM");
    assert!(status.success());
    KeyPair {
        private: fs::read_to_string(&path).expect("read PEM key"),
        public: fs::read_to_string(path.with_extension("pub")).expect("read public key"),
    }
}

#[test]
fn keys_of_every_kind_and_a_server_with_several_host_keys() {
    let scratch = Scratch::new();
    fs::create_dir_all(scratch.path("served")).expect("create served dir");
    let remote = scratch.blueprints("served/blueprints.git");
    let keys = scratch.path("keys");
    let ed25519 = keygen(&keys, "ed25519", "ed25519", "");
    let ecdsa = keygen(&keys, "ecdsa", "ecdsa", "");
    let rsa = keygen(&keys, "rsa", "rsa", "");
    keygen(&keys, "rsa-pem", "rsa", "");
    let rsa_pem = to_pem(&keys, "rsa-pem");
    assert!(rsa_pem.private.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let clients = [&ed25519, &ecdsa, &rsa, &rsa_pem];
    let server =
        SshServer::start_with(&scratch.path("sshd"), &clients, &["ed25519", "ecdsa", "rsa"]);
    let url = server.url(&remote);
    let known_hosts = server.known_hosts();
    assert_eq!(known_hosts.lines().count(), 3);

    for (idx, key) in clients.iter().enumerate() {
        let mut cfg = scratch.config(&url, &format!("cache-{idx}"));
        cfg.credentials = ssh(key, Some(known_hosts.clone()));
        let repo = GitRepo::open(cfg).unwrap_or_else(|err| panic!("open with key {idx}: {err}"));
        assert_eq!(repo.list().expect("list").len(), 16);
    }

    // The server presents the one key libssh2 asks for; known_hosts that list only some of the
    // server's keys work when they list that one, and otherwise fail and say what to do.
    let mut trusted = 0;
    for (idx, line) in known_hosts.lines().enumerate() {
        let mut cfg = scratch.config(&url, &format!("cache-one-{idx}"));
        cfg.credentials = ssh(&ed25519, Some(format!("{line}\n")));
        match GitRepo::open(cfg) {
            Ok(_) => trusted += 1,
            Err(err) => {
                let err = err.to_string();
                assert!(err.contains("host key verification failed"), "{err}");
                assert!(err.contains("list every host key of the server"), "{err}");
            }
        }
    }
    assert_eq!(trusted, 1, "exactly one of the server's keys is presented");
}

#[test]
fn a_push_the_server_rejects_is_an_error() {
    use std::os::unix::fs::PermissionsExt;

    let setup = setup();
    let hook = setup.remote.join("hooks/pre-receive");
    fs::write(&hook, "#!/bin/sh\necho 'rejected by test hook' >&2\nexit 1\n").expect("write hook");
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).expect("chmod hook");
    let repo =
        GitRepo::open(setup.config("cache", ssh(&setup.client, Some(setup.server.known_hosts()))))
            .expect("open over ssh");
    let commit = repo
        .commit_package(
            "web",
            None,
            &files(&[("Kptfile", &kptfile("web"))]),
            "h",
            &veranda_repo::Annotation::default(),
        )
        .expect("commit");
    let err = repo
        .push(&[veranda_repo::RefUpdate::set(repo.draft_ref("web", "ws"), &commit)])
        .expect_err("hook rejects");
    match &err {
        Error::PushRejected { refname, message } => {
            assert_eq!(refname, "refs/heads/drafts/web/ws");
            assert!(message.contains("pre-receive hook declined"), "{message}");
        }
        other => panic!("expected PushRejected, got {other:?}"),
    }
    assert!(git(&setup.remote, &["branch", "--list", "drafts/*"]).is_empty());
}
