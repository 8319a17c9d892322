//! Serving certificates. Kubernetes clients refuse to send bearer tokens over plain HTTP, so the
//! server always speaks HTTPS. On first start it creates a private CA and a serving certificate
//! for the loopback names (plus the listen address); the CA goes into the admin kubeconfig.

use std::{net::IpAddr, path::Path};

use openssl::{
    asn1::Asn1Time,
    bn::{BigNum, MsbOption},
    ec::{EcGroup, EcKey},
    hash::MessageDigest,
    nid::Nid,
    pkey::{PKey, Private},
    x509::{
        X509, X509Builder, X509NameBuilder,
        extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName},
    },
};

/// PEM files of the serving identity.
pub(crate) struct Identity {
    pub(crate) ca_pem: Vec<u8>,
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

const CA_FILE: &str = "ca.crt";
const CERT_FILE: &str = "tls.crt";
const KEY_FILE: &str = "tls.key";

/// Loads the identity from the data directory, creating it when absent or when the listen
/// address is not covered by the existing certificate.
pub(crate) fn ensure_identity(data_dir: &Path, listen: IpAddr) -> Result<Identity, String> {
    let read = |name: &str| std::fs::read(data_dir.join(name));
    if let (Ok(ca_pem), Ok(cert_pem), Ok(key_pem)) =
        (read(CA_FILE), read(CERT_FILE), read(KEY_FILE))
        && covers(&cert_pem, listen)
    {
        return Ok(Identity { ca_pem, cert_pem, key_pem });
    }
    let identity = generate(listen).map_err(|e| format!("generate serving certificate: {e}"))?;
    for (name, content) in [
        (CA_FILE, &identity.ca_pem),
        (CERT_FILE, &identity.cert_pem),
        (KEY_FILE, &identity.key_pem),
    ] {
        crate::auth::write_private(&data_dir.join(name), content)
            .map_err(|e| format!("write {name}: {e}"))?;
    }
    Ok(identity)
}

fn covers(cert_pem: &[u8], listen: IpAddr) -> bool {
    if listen.is_unspecified() || listen.is_loopback() {
        return true;
    }
    let Ok(cert) = X509::from_pem(cert_pem) else { return false };
    cert.subject_alt_names().is_some_and(|names| {
        names.iter().any(|n| n.ipaddress().is_some_and(|ip| ip == ip_bytes(listen).as_slice()))
    })
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn generate(listen: IpAddr) -> Result<Identity, openssl::error::ErrorStack> {
    let ca_key = new_key()?;
    let mut ca = builder("veranda-ca", &ca_key, 3650)?;
    ca.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    ca.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build()?)?;
    let issuer = name("veranda-ca")?;
    ca.set_issuer_name(&issuer)?;
    ca.sign(&ca_key, MessageDigest::sha256())?;
    let ca = ca.build();

    let key = new_key()?;
    let mut cert = builder("veranda", &key, 825)?;
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
    let san = san.build(&cert.x509v3_context(Some(&ca), None))?;
    cert.append_extension(san)?;
    cert.sign(&ca_key, MessageDigest::sha256())?;
    let cert = cert.build();
    Ok(Identity {
        ca_pem: ca.to_pem()?,
        cert_pem: cert.to_pem()?,
        key_pem: key.private_key_to_pem_pkcs8()?,
    })
}

fn new_key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn name(common_name: &str) -> Result<openssl::x509::X509Name, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    Ok(name.build())
}

fn builder(
    common_name: &str,
    key: &PKey<Private>,
    days: u32,
) -> Result<X509Builder, openssl::error::ErrorStack> {
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    let subject = name(common_name)?;
    builder.set_subject_name(&subject)?;
    builder.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    builder.set_not_before(&not_before)?;
    let not_after = Asn1Time::days_from_now(days)?;
    builder.set_not_after(&not_after)?;
    Ok(builder)
}
