//! Who the server knows, with the real kubectl and curl: tokens added to or removed from
//! `tokens.csv` take effect within seconds without a restart; failed logins are logged
//! without the credential, counted, and limited per source address.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use crate::util::Server;

const CAROL: &str = "carol-token-0123456789abcdef";

/// The HTTP status of `GET path` with `token`, by curl.
fn status(server: &Server, token: &str, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(server.dir.path().join("data/ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}{path}", server.url()))
        .stdout(Stdio::piped())
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, head)
}

#[test]
fn tokens_are_reloaded_and_failed_logins_limited() {
    let server = Server::start();
    let tokens = server.dir.path().join("data/tokens.csv");
    let before = std::fs::read_to_string(&tokens).expect("read tokens");
    let repos = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories";
    assert_eq!(status(&server, CAROL, repos).0, 401);

    // Added: works within seconds, without a restart.
    let mut file = std::fs::OpenOptions::new().append(true).open(&tokens).expect("open");
    writeln!(file, "{CAROL},carol,carol,\"system:masters\"").expect("append");
    drop(file);
    server.eventually("carol's token works", || status(&server, CAROL, repos).0 == 200);
    server.kubectl(&["--token", CAROL, "get", "repositories"]);

    // Removed (the file replaced, as an editor does): stops working within seconds.
    let replaced = tokens.with_extension("new");
    std::fs::write(&replaced, &before).expect("write");
    std::fs::rename(&replaced, &tokens).expect("replace");
    server.eventually("carol's token stops working", || status(&server, CAROL, repos).0 == 401);
    assert_eq!(status(&server, &server.token(), repos).0, 200, "the admin's still works");

    // A file emptied by mistake keeps the tokens in force.
    std::fs::write(&tokens, "").expect("empty the file");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(status(&server, &server.token(), repos).0, 200, "an empty file locks nobody out");
    std::fs::write(&tokens, &before).expect("restore");

    // Failures are logged without the credential and counted.
    let log = server.log();
    assert!(log.contains("authentication failed"), "{log}");
    assert!(!log.contains(CAROL), "a presented token is in the log");
    let metrics = server.kubectl(&["get", "--raw", "/metrics"]);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("veranda_authentication_failures_total{reason=\"invalid\"}")),
        "{metrics}"
    );

    // Too many failures from one address: that address is refused for a while, whatever token.
    let mut codes = Vec::new();
    for _ in 0..25 {
        codes.push(status(&server, "guess", repos).0);
    }
    assert!(codes.contains(&429), "{codes:?}");
    let (code, head) = status(&server, &server.token(), repos);
    assert_eq!(code, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
}
