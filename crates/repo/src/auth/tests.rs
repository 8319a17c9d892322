use super::{known_hosts, ssh_port};

/// Two ed25519 keys made with `ssh-keygen -t ed25519`.
const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGgJYKMz61YfxrURw140a9xJ6n4qBTjQ1nTiIe2BkWPK";
const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBozbH3Cp/XdJjgqgaBxjRq4Y0Tx95BqdSJ9PW1cOQPf";

fn raw(key: &str) -> Vec<u8> {
    openssl::base64::decode_block(key).unwrap()
}

fn verify(text: &str, host: &str, port: u16, key: &str) -> Result<(), String> {
    known_hosts::verify(text, host, port, &raw(key))
}

#[test]
fn plain_entries_match_host_and_key() {
    let text = format!("# servers\n\ngit.example.com,10.0.0.1 ssh-ed25519 {KEY_A} comment here\n");
    assert_eq!(verify(&text, "git.example.com", 22, KEY_A), Ok(()));
    assert_eq!(verify(&text, "GIT.example.com", 22, KEY_A), Ok(()));
    assert_eq!(verify(&text, "10.0.0.1", 22, KEY_A), Ok(()));
    let err = verify(&text, "git.example.com", 22, KEY_B).unwrap_err();
    assert!(err.contains("does not match the ssh-ed25519 key(s)"), "{err}");
    assert!(err.contains("ssh-ed25519 key SHA256:"), "{err}");
    assert!(!err.contains("ssh-keyscan"), "same type, no hint: {err}");
    let other_type = format!("git.example.com ecdsa-sha2-nistp256 {KEY_B}\n");
    let err = verify(&other_type, "git.example.com", 22, KEY_A).unwrap_err();
    assert!(err.contains("list every host key of the server"), "{err}");
    let err = verify(&text, "other.example.com", 22, KEY_A).unwrap_err();
    assert!(err.contains("other.example.com is not listed in known_hosts"), "{err}");
}

#[test]
fn ports_other_than_22_need_the_bracketed_form() {
    let text = format!("[127.0.0.1]:2222 ssh-ed25519 {KEY_A}\n127.0.0.1 ssh-ed25519 {KEY_B}\n");
    assert_eq!(verify(&text, "127.0.0.1", 2222, KEY_A), Ok(()));
    assert!(verify(&text, "127.0.0.1", 2222, KEY_B).is_err());
    assert_eq!(verify(&text, "127.0.0.1", 22, KEY_B), Ok(()));
    assert!(verify(&text, "127.0.0.1", 22, KEY_A).is_err());
    let err = verify(&text, "127.0.0.1", 2223, KEY_A).unwrap_err();
    assert!(err.contains("[127.0.0.1]:2223 is not listed"), "{err}");
}

#[test]
fn hashed_entries_as_ssh_keygen_writes_them() {
    // `ssh-keygen -H` of "[127.0.0.1]:2222 ..." and "example.com ...".
    let text = format!(
        "|1|RqHF/CB+SSzSUXuWzXABsf9p10U=|rW1VVmrDgTWxH8g2Mf1rm6+cJUo= ssh-ed25519 {KEY_A}\n\
         |1|XeKX9tSWivvgaixPvclpmDzxUxs=|P3dMMZ9t/2hv1N6BIKBMq3EWnbs= ssh-ed25519 {KEY_A}\n"
    );
    assert_eq!(verify(&text, "127.0.0.1", 2222, KEY_A), Ok(()));
    assert_eq!(verify(&text, "example.com", 22, KEY_A), Ok(()));
    assert!(verify(&text, "127.0.0.1", 22, KEY_A).is_err());
    assert!(verify(&text, "example.org", 22, KEY_A).is_err());
    assert!(verify(&text, "example.com", 22, KEY_B).is_err());
    // A damaged hash never matches and never panics.
    let damaged = format!("|1|RqHF|short ssh-ed25519 {KEY_A}\n|1|nopipe ssh-ed25519 {KEY_A}\n");
    assert!(verify(&damaged, "127.0.0.1", 2222, KEY_A).is_err());
}

#[test]
fn wildcards_and_negation() {
    let text = format!(
        "*.example.com,!bad.example.com ssh-ed25519 {KEY_A}\ngit?.corp ssh-ed25519 {KEY_A}\n"
    );
    assert_eq!(verify(&text, "git.example.com", 22, KEY_A), Ok(()));
    assert!(verify(&text, "bad.example.com", 22, KEY_A).is_err());
    assert!(verify(&text, "example.com", 22, KEY_A).is_err());
    assert_eq!(verify(&text, "git1.corp", 22, KEY_A), Ok(()));
    assert!(verify(&text, "git12.corp", 22, KEY_A).is_err());
}

#[test]
fn markers_and_malformed_lines() {
    let text = format!(
        "@cert-authority *.example.com ssh-ed25519 {KEY_A}\n\
         git.example.com\n\
         git.example.com ssh-ed25519\n\
         git.example.com ssh-ed25519 !!!not-base64!!!\n\
         @unknown git.example.com ssh-ed25519 {KEY_A}\n"
    );
    // None of these lines trusts anything.
    assert!(verify(&text, "git.example.com", 22, KEY_A).is_err());

    let revoked = format!("git.example.com ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_A}\n");
    let err = verify(&revoked, "git.example.com", 22, KEY_A).unwrap_err();
    assert!(err.contains("@revoked"), "{err}");
    assert_eq!(verify(&revoked, "git.example.com", 22, KEY_B).map_err(|_| ()), Err(()));
    assert_eq!(verify("", "git.example.com", 22, KEY_A).map_err(|_| ()), Err(()));
}

#[test]
fn fingerprints_match_ssh_keygen() {
    // `ssh-keygen -l` of KEY_A.
    assert_eq!(
        known_hosts::fingerprint(&raw(KEY_A)),
        "SHA256:AVMLCAjMF0WFxLA/4NAfr4bg0qP+LKFVn1aTdzBonCw"
    );
}

#[test]
fn ssh_ports_from_urls() {
    assert_eq!(ssh_port("ssh://git@127.0.0.1:2222/repo.git"), Some(2222));
    assert_eq!(ssh_port("ssh://127.0.0.1:2222/repo.git"), Some(2222));
    assert_eq!(ssh_port("ssh://git@host/repo.git"), None);
    assert_eq!(ssh_port("ssh://git@[::1]:2200/repo.git"), Some(2200));
    assert_eq!(ssh_port("ssh://git@[::1]/repo.git"), None);
    assert_eq!(ssh_port("git+ssh://host:29418/x"), Some(29418));
    assert_eq!(ssh_port("git@github.com:org/repo.git"), None);
    assert_eq!(ssh_port("https://host:8443/repo.git"), None);
}

#[test]
fn debug_redacts_the_key_and_passphrase() {
    let credentials = crate::Credentials::Ssh {
        username: None,
        private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretbytes\n".into(),
        passphrase: Some("hunter2".into()),
        known_hosts: Some(format!("host ssh-ed25519 {KEY_A}\n")),
    };
    let debug = format!("{credentials:?}");
    assert!(!debug.contains("secretbytes") && !debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}
