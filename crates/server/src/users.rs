//! `veranda user add`: a kubeconfig for a new user, while the server keeps running: a client
//! certificate signed by the server's CA (the common name the user, the organizations its
//! groups), or with `token` a new line of `tokens.csv` (which the server re-reads).

use std::{io::Write, path::Path};

use crate::{auth, tls};

/// A new user `name` in `groups` of the server whose data directory is `data_dir`: its
/// kubeconfig, for the server URL of the admin's kubeconfig.
pub fn add_user(
    data_dir: &Path,
    name: &str,
    groups: &[String],
    token: bool,
) -> Result<String, String> {
    check_name("user name", name)?;
    for group in groups {
        check_name("group", group)?;
    }
    let admin = std::fs::read_to_string(data_dir.join("kubeconfig")).map_err(|e| {
        format!(
            "read {}: {e} (has `veranda serve` run with this data directory?)",
            data_dir.join("kubeconfig").display()
        )
    })?;
    let server = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .ok_or("the admin kubeconfig names no server")?
        .to_string();
    let trusts_ca = admin.contains("certificate-authority-data:");
    if token {
        let secret =
            uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string();
        append_token(data_dir, &secret, name, groups)?;
        let ca = std::fs::read(data_dir.join("ca.crt")).ok().filter(|_| trusts_ca);
        return Ok(auth::kubeconfig(
            &server,
            ca.as_deref(),
            name,
            &auth::Credential::Token(&secret),
        ));
    }
    let tls::ClientCertificate { cert_pem, key_pem, ca_pem } =
        tls::issue_client(data_dir, name, groups)?;
    let ca = trusts_ca.then_some(ca_pem.as_slice());
    Ok(auth::kubeconfig(
        &server,
        ca,
        name,
        &auth::Credential::Certificate { cert_pem: &cert_pem, key_pem: &key_pem },
    ))
}

/// Names go into the token file's CSV and into certificate subjects.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > 253
        || name.trim() != name
        || name.chars().any(|c| c == ',' || c == '"' || c.is_control());
    if bad {
        return Err(format!(
            "invalid {what} {name:?}: 1 to 253 characters, no comma, quote or control character, no surrounding space"
        ));
    }
    Ok(())
}

/// Adds a line to `tokens.csv`, replacing the file atomically (the server sees it whole).
fn append_token(data_dir: &Path, token: &str, name: &str, groups: &[String]) -> Result<(), String> {
    let path = data_dir.join("tokens.csv");
    let mut text =
        std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{token},{name},{name},\"{}\"\n", groups.join(",")));
    let tmp = data_dir.join(".tokens.csv.tmp");
    let write = || -> std::io::Result<()> {
        let mut file = auth::create_private(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| format!("write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("user name", "alice").is_ok());
        assert!(check_name("user name", "system:serviceaccount:a:b").is_ok());
        for bad in ["", " alice", "a,b", "a\"b", "a\nb"] {
            assert!(check_name("user name", bad).is_err(), "{bad:?}");
        }
    }
}
