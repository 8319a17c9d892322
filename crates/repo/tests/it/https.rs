//! Fetch and push over HTTPS with a private CA (`GitConfig::ca_bundle`), against `git
//! http-backend` behind TLS; and the tarpit helper.

use std::{
    fs,
    io::{ErrorKind, Read},
    net::TcpStream,
    path::PathBuf,
    time::Duration,
};

use veranda_repo::{Credentials, Error, GitConfig, GitRepo};

use crate::{
    http_server::{Auth, GitHttpServer, PrivateCa, Tarpit, enable_push},
    util::{Scratch, create_draft, files, find, git, kptfile},
};

fn served(scratch: &Scratch) -> PathBuf {
    fs::create_dir_all(scratch.path("served")).expect("create served dir");
    let repo = scratch.blueprints("served/blueprints.git");
    enable_push(&repo);
    repo
}

fn config(
    scratch: &Scratch,
    server: &GitHttpServer,
    cache: &str,
    bundle: Option<&str>,
) -> GitConfig {
    let mut cfg = scratch.config(&server.url("blueprints.git"), cache);
    cfg.credentials =
        Some(Credentials::Basic { username: "porch".into(), password: "s3cret".into() });
    cfg.ca_bundle = bundle.map(str::to_owned);
    cfg
}

fn basic() -> Auth {
    Auth::Basic { username: "porch".into(), password: "s3cret".into() }
}

fn open_fails(cfg: GitConfig) -> String {
    let err = GitRepo::open(cfg).err().expect("open fails");
    assert!(matches!(err, Error::Git(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
    err.to_string()
}

#[test]
fn fetch_and_push_with_a_private_ca() {
    let scratch = Scratch::new();
    let remote = served(&scratch);
    let ca = PrivateCa::new(&scratch.path("pki"), "veranda-test-ca");
    let server = GitHttpServer::start_tls(
        scratch.path("served"),
        basic(),
        &ca.issue("server", "IP:127.0.0.1"),
    );
    assert!(server.url("x").starts_with("https://127.0.0.1:"));

    let cfg = config(&scratch, &server, "cache", Some(&ca.cert_pem));
    let repo = GitRepo::open(cfg.clone()).expect("open over https with the CA bundle");
    assert_eq!(repo.list().expect("list").len(), 16);
    let draft = create_draft(&repo, "web", "ws", &files(&[("Kptfile", &kptfile("web"))]));
    assert_eq!(git(&remote, &["rev-parse", "drafts/web/ws"]), draft);
    let approved =
        repo.approve("web", "ws", &draft, 1, &repo.draft_ref("web", "ws")).expect("approve");
    assert_eq!(git(&remote, &["rev-parse", "main"]), approved);
    assert_eq!(git(&remote, &["rev-parse", "web/v1"]), approved);

    // A bundle of several certificates, the right one not first.
    let other = PrivateCa::new(&scratch.path("pki-other"), "other-ca");
    let bundle = format!("{}{}", other.cert_pem, ca.cert_pem);
    let second = GitRepo::open(config(&scratch, &server, "cache-2", Some(&bundle)))
        .expect("open with a bundle of two CAs");
    assert_eq!(find(&second.list().expect("list"), "web", "main").commit, approved);

    // An upstream read trusts the same bundle.
    let credentials = cfg.credentials.clone();
    let fetched = veranda_repo::fetch_package(
        &server.url("blueprints.git"),
        "v1",
        "web",
        credentials.as_ref(),
        Some(&ca.cert_pem),
        &Default::default(),
        &scratch.path("upstream-cache"),
    )
    .expect("read an upstream package over https");
    assert_eq!(fetched.commit, approved);
    let err = veranda_repo::fetch_package(
        &server.url("blueprints.git"),
        "v1",
        "web",
        credentials.as_ref(),
        None,
        &Default::default(),
        &scratch.path("upstream-cache-2"),
    )
    .expect_err("no bundle, no trust");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn without_the_bundle_or_with_another_ca_the_server_is_not_trusted() {
    let scratch = Scratch::new();
    served(&scratch);
    let ca = PrivateCa::new(&scratch.path("pki"), "veranda-test-ca");
    let server = GitHttpServer::start_tls(
        scratch.path("served"),
        basic(),
        &ca.issue("server", "IP:127.0.0.1"),
    );

    // The system's trust store does not know the private CA.
    let err = open_fails(config(&scratch, &server, "cache-none", None));
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let other = PrivateCa::new(&scratch.path("pki-other"), "other-ca");
    let err = open_fails(config(&scratch, &server, "cache-other", Some(&other.cert_pem)));
    assert!(err.contains("TLS certificate verification failed for 127.0.0.1"), "{err}");
    assert!(err.contains("not trusted by the repository's CA bundle"), "{err}");
    assert_eq!(server.unauthorized(), 0, "no request was sent to an untrusted server");

    for garbage in ["", "not a certificate"] {
        let err = open_fails(config(&scratch, &server, "cache-garbage", Some(garbage)));
        assert!(err.contains("TLS certificate verification failed for 127.0.0.1"), "{err}");
        assert!(err.contains("CA bundle"), "{err}");
    }
}

#[test]
fn a_certificate_for_another_name_is_not_trusted() {
    let scratch = Scratch::new();
    served(&scratch);
    let ca = PrivateCa::new(&scratch.path("pki"), "veranda-test-ca");
    let server = GitHttpServer::start_tls(
        scratch.path("served"),
        basic(),
        &ca.issue("server", "DNS:localhost"),
    );
    let err = open_fails(config(&scratch, &server, "cache", Some(&ca.cert_pem)));
    assert!(err.contains("TLS certificate verification failed for 127.0.0.1"), "{err}");
    assert!(err.to_lowercase().contains("mismatch"), "{err}");
}

#[test]
fn the_tarpit_accepts_and_never_answers() {
    let tarpit = Tarpit::start();
    assert!(tarpit.url("http", "/repo.git").ends_with("/repo.git"));
    let mut stream = TcpStream::connect(tarpit.addr()).expect("connect to the tarpit");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("set read timeout");
    let mut byte = [0; 1];
    let err = stream.read(&mut byte).expect_err("the tarpit never answers");
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err:?}");
    for _ in 0..100 {
        if tarpit.connections() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(tarpit.connections(), 1);
}
