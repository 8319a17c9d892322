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

    // An emptied file revokes every token, the admin's too; restored, they work again.
    std::fs::write(&tokens, "").expect("empty the file");
    // (Waiting rather than polling: failed attempts count towards the lockout below.)
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(status(&server, &server.token(), repos).0, 401, "an empty file revokes");
    std::fs::write(&tokens, &before).expect("restore");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(status(&server, &server.token(), repos).0, 200, "restored");

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

/// `veranda user add ...` on the server's data directory: its kubeconfig.
fn user_add(server: &Server, args: &[&str]) -> std::path::PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_veranda"))
        .args(["user", "add"])
        .args(args)
        .arg("--data-dir")
        .arg(server.dir.path().join("data"))
        .output()
        .expect("run veranda user add");
    assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));
    let path = server.dir.path().join(format!("kubeconfig-{}", args[0]));
    std::fs::write(&path, &out.stdout).expect("write the kubeconfig");
    path
}

#[test]
fn user_add_makes_working_kubeconfigs_while_the_server_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("audit.log");
    let log_arg = log.display().to_string();
    let server = Server::start_with(dir, &["--audit-log", &log_arg]);
    server.kubectl(&[
        "create",
        "rolebinding",
        "readers",
        "--clusterrole=veranda:viewer",
        "--user=alice",
        "--user=bob",
        "-n",
        "default",
    ]);
    let with = |kubeconfig: &std::path::Path, args: &[&str]| {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env("KUBECACHEDIR", server.dir.path().join("kube-cache"))
            .output()
            .expect("kubectl");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // A client certificate: the common name is the user, the organizations its groups.
    let alice = user_add(&server, &["alice", "--group", "team-a", "--group", "dev"]);
    let text = std::fs::read_to_string(&alice).expect("read");
    assert!(
        text.contains("client-certificate-data:") && text.contains("client-key-data:"),
        "{text}"
    );
    assert!(!text.contains("token:"), "{text}");
    let (ok, err) = with(&alice, &["get", "repositories"]);
    assert!(ok, "{err}");
    // A token: added to tokens.csv, picked up without a restart.
    let bob = user_add(&server, &["bob", "--token"]);
    let mut last = String::new();
    server.eventually("bob's token works", || {
        let (ok, err) = with(&bob, &["get", "repositories"]);
        last = err;
        ok
    });
    // The audit log names them.
    server.eventually("the audit log names alice and bob", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains(
            "\"groups\":[\"team-a\",\"dev\",\"system:authenticated\"],\"username\":\"alice\"",
        )
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("\"username\":\"bob\""), "{text}");

    // A certificate from another CA is refused at the handshake.
    let other = tempfile::tempdir().expect("temp dir");
    let stranger = Server::start_in(other);
    let foreign = user_add(&stranger, &["mallory", "--group", "system:masters"]);
    let foreign_text =
        std::fs::read_to_string(&foreign).expect("read").replace(&stranger.url(), &server.url());
    let foreign_ca = std::fs::read_to_string(&server.kubeconfig)
        .expect("read")
        .lines()
        .find(|l| l.contains("certificate-authority-data"))
        .map(str::to_owned)
        .expect("ca line");
    let foreign_text = foreign_text
        .lines()
        .map(|l| if l.contains("certificate-authority-data") { foreign_ca.as_str() } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&foreign, foreign_text).expect("write");
    let (ok, err) = with(&foreign, &["get", "repositories"]);
    assert!(!ok, "a certificate of another CA was accepted");
    assert!(!err.is_empty());
    // Bad names are refused.
    let out = Command::new(env!("CARGO_BIN_EXE_veranda"))
        .args(["user", "add", "a,b", "--data-dir"])
        .arg(server.dir.path().join("data"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid user name"));
}

/// curl's exit code for `GET https://HOST:PORT/version`, `HOST` resolved to 127.0.0.1.
fn curl_version(url: &str, host: &str, ca: &std::path::Path) -> (bool, String) {
    let port = url.rsplit(':').next().unwrap_or_default();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .arg(format!("https://{host}:{port}/version"))
        .output()
        .expect("curl");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn serving_certificates_name_what_they_are_asked_to() {
    // Generated, with an extra name.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(dir, &["--tls-san", "veranda.test"]);
    let ca = server.dir.path().join("data/ca.crt");
    assert_eq!(curl_version(&server.url(), "veranda.test", &ca), (true, String::new()));
    let (ok, _) = curl_version(&server.url(), "other.test", &ca);
    assert!(!ok, "a name the certificate does not have was accepted");
    drop(server);

    // The operator's own certificate: served, and the kubeconfig trusts the system's roots.
    let dir = tempfile::tempdir().expect("temp dir");
    // Issued by a CA of the operator's (served with its chain), as the Git server tests do.
    let ca = crate::http_server::PrivateCa::new(&dir.path().join("own-ca"), "own-ca");
    let own = ca.issue("own", "DNS:own.test");
    let trust = dir.path().join("own-ca.pem");
    std::fs::write(&trust, &ca.cert_pem).expect("write the CA");
    let (cert_arg, key_arg) =
        (own.cert_file.display().to_string(), own.key_file.display().to_string());
    let server = Server::start_with(
        dir,
        &["--tls-cert-file", &cert_arg, "--tls-private-key-file", &key_arg],
    );
    assert_eq!(curl_version(&server.url(), "own.test", &trust), (true, String::new()));
    let kubeconfig = std::fs::read_to_string(&server.kubeconfig).expect("read");
    assert!(!kubeconfig.contains("certificate-authority-data"), "{kubeconfig}");
}
