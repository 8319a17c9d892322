//! Certificates. Kubernetes clients refuse to send bearer tokens over plain HTTP, so the server
//! always speaks HTTPS.
//!
//! On first start it creates a private CA (`ca.crt`, `ca.key`) and a serving certificate for
//! the loopback names, the listen address and `--tls-san` names; the CA goes into the
//! kubeconfigs. The serving certificate is re-issued by the same CA before it expires (at start
//! and by a daily check, without a restart), or when a name is missing. With
//! `--tls-cert-file`/`--tls-private-key-file` the operator's certificate is served instead (and
//! re-read when the files change). Either way the CA verifies client certificates, as
//! kube-apiserver's `--client-ca-file`: the common name is the user, the organizations its
//! groups ([`issue_client`] makes them, for `veranda user add`).

mod accept;

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

pub(crate) use accept::{ClientCerts, PeerUser};
use openssl::{
    asn1::Asn1Time,
    bn::{BigNum, MsbOption},
    ec::{EcGroup, EcKey},
    hash::MessageDigest,
    nid::Nid,
    pkey::{PKey, Private},
    ssl::{self, AlpnError, SslAcceptor, SslMethod, SslVerifyMode},
    stack::Stack,
    x509::{
        X509, X509Builder, X509NameBuilder, X509Ref,
        extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName},
        store::X509StoreBuilder,
    },
};

use crate::auth::User;

const CA_FILE: &str = "ca.crt";
const CA_KEY_FILE: &str = "ca.key";
const CERT_FILE: &str = "tls.crt";
const KEY_FILE: &str = "tls.key";

/// A serving certificate is re-issued when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Days a generated serving certificate is valid.
const SERVING_DAYS: u32 = 397;
/// Days a client certificate from `veranda user add` is valid.
const CLIENT_DAYS: u32 = 365;

/// How the server gets its serving certificate.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// The operator's certificate (PEM, leaf first, then its chain) and key; `None`: generated.
    pub cert_files: Option<(PathBuf, PathBuf)>,
    /// Extra names (DNS names or IP addresses) of the generated certificate.
    pub sans: Vec<String>,
}

/// What the server serves and trusts.
pub(crate) struct Identity {
    /// The CA's certificate: in the kubeconfigs (unless the operator's certificate is served)
    /// and the trust anchor of client certificates.
    pub(crate) ca_pem: Vec<u8>,
    /// The serving certificate chain and key.
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
    /// Whether the serving certificate is the operator's (its CA is not ours).
    pub(crate) operator_cert: bool,
}

/// Loads or creates the CA, then the serving certificate as `config` says.
pub(crate) fn ensure_identity(
    data_dir: &Path,
    listen: IpAddr,
    config: &TlsConfig,
) -> Result<Identity, String> {
    let (ca, ca_key) = ensure_ca(data_dir)?;
    let ca_pem = ca.to_pem().map_err(|e| format!("encode the CA: {e}"))?;
    if let Some((cert_file, key_file)) = &config.cert_files {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("read {}: {e}", p.display()));
        let (cert_pem, key_pem) = (read(cert_file)?, read(key_file)?);
        // Fails early on files that do not make a certificate and its key.
        acceptor(&cert_pem, &key_pem, &ca_pem)?;
        return Ok(Identity { ca_pem, cert_pem, key_pem, operator_cert: true });
    }
    let read = |name: &str| std::fs::read(data_dir.join(name));
    if let (Ok(cert_pem), Ok(key_pem)) = (read(CERT_FILE), read(KEY_FILE))
        && serving_is_good(&cert_pem, &ca, listen, &config.sans)
    {
        return Ok(Identity { ca_pem, cert_pem, key_pem, operator_cert: false });
    }
    let (cert_pem, key_pem) = issue_serving(&ca, &ca_key, listen, &config.sans)
        .map_err(|e| format!("issue the serving certificate: {e}"))?;
    for (name, content) in [(CERT_FILE, &cert_pem), (KEY_FILE, &key_pem)] {
        crate::auth::write_private(&data_dir.join(name), content)
            .map_err(|e| format!("write {name}: {e}"))?;
    }
    tracing::info!("issued a serving certificate, valid {SERVING_DAYS} days");
    Ok(Identity { ca_pem, cert_pem, key_pem, operator_cert: false })
}

/// The CA of the data directory, created when absent. A data directory of an earlier version
/// kept no CA key: a new CA is made then (kubeconfigs made before must be fetched again).
fn ensure_ca(data_dir: &Path) -> Result<(X509, PKey<Private>), String> {
    let read = |name: &str| std::fs::read(data_dir.join(name));
    if let (Ok(cert), Ok(key)) = (read(CA_FILE), read(CA_KEY_FILE))
        && let (Ok(cert), Ok(key)) = (X509::from_pem(&cert), PKey::private_key_from_pem(&key))
        && cert.public_key().is_ok_and(|public| public.public_eq(&key))
    {
        return Ok((cert, key));
    }
    let (ca, key) = new_ca().map_err(|e| format!("create the CA: {e}"))?;
    let cert_pem = ca.to_pem().map_err(|e| e.to_string())?;
    let key_pem = key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?;
    // The key first: a CA certificate without its key would be replaced at the next start.
    crate::auth::write_private(&data_dir.join(CA_KEY_FILE), &key_pem)
        .map_err(|e| format!("write {CA_KEY_FILE}: {e}"))?;
    crate::auth::write_private(&data_dir.join(CA_FILE), &cert_pem)
        .map_err(|e| format!("write {CA_FILE}: {e}"))?;
    // Serving certificates of an earlier CA are not signed by this one.
    let _ = std::fs::remove_file(data_dir.join(CERT_FILE));
    tracing::info!("created the server's CA");
    Ok((ca, key))
}

/// The CA of the data directory (created when absent), as the PEM text of its certificate and key.
pub(crate) fn ca_pems(data_dir: &Path) -> Result<(String, String), String> {
    ensure_ca(data_dir)?;
    let read = |name: &str| {
        std::fs::read_to_string(data_dir.join(name)).map_err(|e| format!("read {name}: {e}"))
    };
    Ok((read(CA_FILE)?, read(CA_KEY_FILE)?))
}

/// Replaces the data directory's CA with `cert_pem` and `key_pem` (checked to be a pair first);
/// the serving certificate of the previous CA goes, so a new one is issued.
pub(crate) fn replace_ca(data_dir: &Path, cert_pem: &str, key_pem: &str) -> Result<(), String> {
    let cert = X509::from_pem(cert_pem.as_bytes());
    let key = PKey::private_key_from_pem(key_pem.as_bytes());
    let pair = matches!((&cert, &key), (Ok(cert), Ok(key))
        if cert.public_key().is_ok_and(|public| public.public_eq(key)));
    if !pair {
        return Err("the shared CA is not a certificate and its key".into());
    }
    // The key first: a CA certificate without its key would be replaced at the next start.
    for (name, content) in [(CA_KEY_FILE, key_pem), (CA_FILE, cert_pem)] {
        crate::auth::replace_private(&data_dir.join(name), content.as_bytes())
            .map_err(|e| format!("write {name}: {e}"))?;
    }
    let _ = std::fs::remove_file(data_dir.join(CERT_FILE));
    Ok(())
}

/// Whether a stored serving certificate may go on being served: signed by this CA, naming the
/// listen address and every requested name, and not close to its end.
fn serving_is_good(cert_pem: &[u8], ca: &X509, listen: IpAddr, sans: &[String]) -> bool {
    let Ok(cert) = X509::from_pem(cert_pem) else { return false };
    let signed = ca.public_key().and_then(|key| cert.verify(&key)).unwrap_or(false);
    signed && !expires_within(&cert, RENEW_BEFORE) && names_cover(&cert, listen, sans)
}

/// Whether `cert` ends within `window` from now (or has ended).
fn expires_within(cert: &X509Ref, window: Duration) -> bool {
    let at = SystemTime::now() + window;
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    match Asn1Time::from_unix(secs as i64) {
        Ok(at) => cert.not_after() < at,
        Err(_) => true,
    }
}

fn names_cover(cert: &X509Ref, listen: IpAddr, sans: &[String]) -> bool {
    let Some(names) = cert.subject_alt_names() else { return false };
    let has_ip = |ip: IpAddr| names.iter().any(|n| n.ipaddress() == Some(ip_bytes(ip).as_slice()));
    let has = |san: &str| match san.parse::<IpAddr>() {
        Ok(ip) => has_ip(ip),
        Err(_) => names.iter().any(|n| n.dnsname().is_some_and(|d| d.eq_ignore_ascii_case(san))),
    };
    (listen.is_unspecified() || listen.is_loopback() || has_ip(listen))
        && sans.iter().all(|san| has(san))
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn new_ca() -> Result<(X509, PKey<Private>), openssl::error::ErrorStack> {
    let key = new_key()?;
    let mut ca = builder(name("veranda-ca", &[])?.as_ref(), &key, 3650)?;
    ca.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    ca.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build()?)?;
    ca.set_issuer_name(name("veranda-ca", &[])?.as_ref())?;
    ca.sign(&key, MessageDigest::sha256())?;
    Ok((ca.build(), key))
}

fn issue_serving(
    ca: &X509,
    ca_key: &PKey<Private>,
    listen: IpAddr,
    sans: &[String],
) -> Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
    let key = new_key()?;
    let mut cert = builder(name("veranda", &[])?.as_ref(), &key, SERVING_DAYS)?;
    cert.set_issuer_name(ca.subject_name())?;
    cert.append_extension(BasicConstraints::new().build()?)?;
    cert.append_extension(
        KeyUsage::new().critical().digital_signature().key_encipherment().build()?,
    )?;
    cert.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut san = SubjectAlternativeName::new();
    san.dns("localhost").ip("127.0.0.1").ip("::1");
    if !listen.is_unspecified() && !listen.is_loopback() {
        san.ip(&listen.to_string());
    }
    for name in sans {
        match name.parse::<IpAddr>() {
            Ok(ip) => san.ip(&ip.to_string()),
            Err(_) => san.dns(name),
        };
    }
    let san = san.build(&cert.x509v3_context(Some(ca), None))?;
    cert.append_extension(san)?;
    cert.sign(ca_key, MessageDigest::sha256())?;
    Ok((cert.build().to_pem()?, key.private_key_to_pem_pkcs8()?))
}

/// A client certificate, its key and the CA that signed it, as PEM.
pub(crate) struct ClientCertificate {
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
    pub(crate) ca_pem: Vec<u8>,
}

/// A client certificate for `user` in `groups`, signed by the data directory's CA (the server
/// must have run once there).
pub(crate) fn issue_client(
    data_dir: &Path,
    user: &str,
    groups: &[String],
) -> Result<ClientCertificate, String> {
    let read = |name: &str| {
        std::fs::read(data_dir.join(name)).map_err(|e| {
            format!(
                "read {}: {e} (has `veranda serve` run with this data directory?)",
                data_dir.join(name).display()
            )
        })
    };
    let ca_pem = read(CA_FILE)?;
    let ca = X509::from_pem(&ca_pem).map_err(|e| format!("{CA_FILE}: {e}"))?;
    let ca_key = PKey::private_key_from_pem(&read(CA_KEY_FILE)?)
        .map_err(|e| format!("{CA_KEY_FILE}: {e}"))?;
    let issue = || -> Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
        let key = new_key()?;
        let mut cert = builder(name(user, groups)?.as_ref(), &key, CLIENT_DAYS)?;
        cert.set_issuer_name(ca.subject_name())?;
        cert.append_extension(BasicConstraints::new().build()?)?;
        cert.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        cert.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
        cert.sign(&ca_key, MessageDigest::sha256())?;
        Ok((cert.build().to_pem()?, key.private_key_to_pem_pkcs8()?))
    };
    let (cert_pem, key_pem) = issue().map_err(|e| format!("issue the client certificate: {e}"))?;
    Ok(ClientCertificate { cert_pem, key_pem, ca_pem })
}

/// The user a verified client certificate names: its common name, its organizations as groups.
pub(crate) fn certificate_user(cert: &X509Ref) -> Option<User> {
    let text = |nid: Nid| {
        cert.subject_name()
            .entries_by_nid(nid)
            .filter_map(|e| e.data().to_string().ok())
            .collect::<Vec<_>>()
    };
    let name = text(Nid::COMMONNAME).into_iter().next().filter(|n| !n.is_empty())?;
    let mut groups = text(Nid::ORGANIZATIONNAME);
    // Every authenticated user is in `system:authenticated`, as in the kube-apiserver.
    if !groups.iter().any(|g| g == veranda_api::rbac::SYSTEM_AUTHENTICATED) {
        groups.push(veranda_api::rbac::SYSTEM_AUTHENTICATED.to_string());
    }
    Some(User { name, groups })
}

/// The TLS acceptor: serves `cert_pem` (leaf, then chain) with `key_pem`, and asks clients for
/// a certificate signed by `ca_pem` (optional: token clients send none).
pub(crate) fn acceptor(
    cert_pem: &[u8],
    key_pem: &[u8],
    ca_pem: &[u8],
) -> Result<SslAcceptor, String> {
    let build = || -> Result<SslAcceptor, openssl::error::ErrorStack> {
        let chain = X509::stack_from_pem(cert_pem)?;
        let key = PKey::private_key_from_pem(key_pem)?;
        let ca = X509::from_pem(ca_pem)?;
        let mut tls = SslAcceptor::mozilla_modern_v5(SslMethod::tls())?;
        if let Some((leaf, rest)) = chain.split_first() {
            tls.set_certificate(leaf)?;
            for extra in rest {
                tls.add_extra_chain_cert(extra.clone())?;
            }
        }
        tls.set_private_key(&key)?;
        tls.check_private_key()?;
        let mut store = X509StoreBuilder::new()?;
        store.add_cert(ca.clone())?;
        tls.set_verify_cert_store(store.build())?;
        let mut names = Stack::new()?;
        names.push(ca.subject_name().to_owned()?)?;
        tls.set_client_ca_list(names);
        // A certificate is optional; one that is presented must verify.
        tls.set_verify(SslVerifyMode::PEER);
        tls.set_session_id_context(b"veranda")?;
        tls.set_alpn_select_callback(alpn_select);
        Ok(tls.build())
    };
    build().map_err(|e| format!("load the serving certificate: {e}"))
}

fn alpn_select<'a>(_: &mut ssl::SslRef, client: &'a [u8]) -> Result<&'a [u8], AlpnError> {
    ssl::select_next_proto(b"\x02h2\x08http/1.1", client).ok_or(AlpnError::NOACK)
}

fn new_key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn name(
    common_name: &str,
    organizations: &[String],
) -> Result<openssl::x509::X509Name, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    for organization in organizations {
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, organization)?;
    }
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    Ok(name.build())
}

fn builder(
    subject: &openssl::x509::X509NameRef,
    key: &PKey<Private>,
    days: u32,
) -> Result<X509Builder, openssl::error::ErrorStack> {
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(subject)?;
    builder.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    builder.set_not_before(&not_before)?;
    let not_after = Asn1Time::days_from_now(days)?;
    builder.set_not_after(&not_after)?;
    Ok(builder)
}

/// Keeps the served certificate fresh while the server runs: every `every`, a generated one
/// close to its end is re-issued (and written), an operator's is re-read when its files
/// changed; either way the acceptor is swapped, with no restart and no dropped connection.
pub(crate) async fn keep_fresh(
    data_dir: PathBuf,
    listen: IpAddr,
    config: TlsConfig,
    tls: axum_server::tls_openssl::OpenSSLConfig,
    every: Duration,
) {
    let stamp = |config: &TlsConfig| {
        config.cert_files.as_ref().map(|(cert, key)| {
            let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            (modified(cert), modified(key))
        })
    };
    let mut seen = stamp(&config);
    let mut served = std::fs::read(data_dir.join(CERT_FILE)).ok();
    loop {
        tokio::time::sleep(every).await;
        let (data_dir, config_now) = (data_dir.clone(), config.clone());
        let now_stamp = stamp(&config);
        if config.cert_files.is_some() && now_stamp == seen {
            continue;
        }
        let identity =
            tokio::task::spawn_blocking(move || ensure_identity(&data_dir, listen, &config_now))
                .await;
        let identity = match identity {
            Ok(Ok(identity)) => identity,
            Ok(Err(e)) => {
                tracing::warn!("certificate check failed; serving the current one: {e}");
                continue;
            }
            Err(_) => continue,
        };
        seen = now_stamp;
        if !identity.operator_cert && served.as_deref() == Some(identity.cert_pem.as_slice()) {
            continue;
        }
        match acceptor(&identity.cert_pem, &identity.key_pem, &identity.ca_pem) {
            Ok(acceptor) => {
                tls.reload_from_acceptor(std::sync::Arc::new(acceptor));
                tracing::info!("serving a renewed certificate");
                served = Some(identity.cert_pem);
            }
            Err(e) => {
                tracing::warn!("cannot serve the new certificate; serving the current one: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_ca_and_renews_what_it_must() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let first = ensure_identity(dir.path(), lo, &TlsConfig::default()).expect("first");
        let again = ensure_identity(dir.path(), lo, &TlsConfig::default()).expect("again");
        assert_eq!((first.ca_pem.clone(), first.cert_pem.clone()), (again.ca_pem, again.cert_pem));
        // A new name: a new serving certificate, the same CA.
        let sans = TlsConfig {
            sans: vec!["veranda.example.com".into(), "10.1.2.3".into()],
            ..Default::default()
        };
        let named = ensure_identity(dir.path(), lo, &sans).expect("with names");
        assert_eq!(named.ca_pem, first.ca_pem);
        assert_ne!(named.cert_pem, first.cert_pem);
        let cert = X509::from_pem(&named.cert_pem).expect("parse");
        assert!(names_cover(&cert, "10.1.2.3".parse().unwrap(), &sans.sans));
        // Within the renewal window: re-issued by the same CA.
        assert!(!expires_within(&cert, RENEW_BEFORE));
        assert!(expires_within(
            &cert,
            Duration::from_secs(u64::from(SERVING_DAYS) * 86_400 + 86_400)
        ));
        // A client certificate names the user and groups.
        let client =
            issue_client(dir.path(), "alice", &["team-a".into(), "dev".into()]).expect("client");
        assert_eq!(client.ca_pem, first.ca_pem);
        let client = X509::from_pem(&client.cert_pem).expect("parse");
        assert_eq!(
            certificate_user(&client),
            Some(User {
                name: "alice".into(),
                groups: vec!["team-a".into(), "dev".into(), "system:authenticated".into()]
            })
        );
        let ca = X509::from_pem(&first.ca_pem).expect("ca");
        assert!(client.verify(&ca.public_key().expect("key")).expect("verify"));
        assert!(acceptor(&first.cert_pem, &first.key_pem, &first.ca_pem).is_ok());
    }

    #[test]
    fn a_data_directory_without_a_ca_key_gets_a_new_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let first = ensure_identity(dir.path(), lo, &TlsConfig::default()).expect("first");
        std::fs::remove_file(dir.path().join(CA_KEY_FILE)).expect("remove the key");
        let next = ensure_identity(dir.path(), lo, &TlsConfig::default()).expect("next");
        assert_ne!(next.ca_pem, first.ca_pem);
        let cert = X509::from_pem(&next.cert_pem).expect("parse");
        let ca = X509::from_pem(&next.ca_pem).expect("ca");
        assert!(cert.verify(&ca.public_key().expect("key")).expect("verify"));
    }
}
