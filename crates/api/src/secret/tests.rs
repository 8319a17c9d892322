use super::*;

fn secret(secret_type: &str, keys: &[(&str, &str)]) -> Secret {
    let mut s = Secret {
        metadata: ObjectMeta { name: "creds".into(), ..Default::default() },
        secret_type: secret_type.into(),
        string_data: keys.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    };
    s.normalize();
    s
}

#[test]
fn string_data_is_merged_and_never_serialised() {
    let mut s = secret("", &[("password", "hunter2")]);
    s.data.insert("user".into(), STANDARD.encode("u"));
    s.string_data.insert("user".into(), "override".into());
    s.normalize();
    assert_eq!(s.secret_type, OPAQUE);
    assert_eq!(s.value("password").as_deref(), Some(&b"hunter2"[..]));
    assert_eq!(s.value("user").as_deref(), Some(&b"override"[..]));
    let json = serde_json::to_string(&s).expect("json");
    assert!(!json.contains("stringData"), "{json}");
    assert!(!json.contains("hunter2"), "{json}");
}

#[test]
fn required_keys_of_each_type() {
    assert!(secret(BASIC_AUTH, &[("username", "u")]).validate().is_ok());
    assert!(secret(BASIC_AUTH, &[("password", "p")]).validate().is_ok());
    assert_eq!(secret(BASIC_AUTH, &[]).validate().unwrap_err().field, "data[username]");
    assert_eq!(secret(SSH_AUTH, &[]).validate().unwrap_err().field, "data[ssh-privatekey]");
    assert!(secret(SSH_AUTH, &[("ssh-privatekey", "k")]).validate().is_ok());
    assert_eq!(secret(TLS, &[("tls.crt", "c")]).validate().unwrap_err().field, "data[tls.key]");
    assert_eq!(secret(TLS, &[("tls.key", "k")]).validate().unwrap_err().field, "data[tls.crt]");
    assert!(secret(TLS, &[("tls.key", "k"), ("tls.crt", "c")]).validate().is_ok());
    assert!(secret(OPAQUE, &[]).validate().is_ok());
    assert!(secret("example.com/custom", &[]).validate().is_ok());
}

#[test]
fn keys_names_base64_and_size_are_checked_without_values() {
    let err = secret(OPAQUE, &[("bad/key", "topsecret")]).validate().unwrap_err();
    assert_eq!(err.field, "data[bad/key]");
    assert!(!err.message.contains("topsecret"));
    assert!(secret(OPAQUE, &[("..x", "v")]).validate().is_err());
    assert!(secret(OPAQUE, &[(".", "v")]).validate().is_err());
    assert!(secret(OPAQUE, &[(".dotfile", "v")]).validate().is_ok());
    let mut s = secret(OPAQUE, &[]);
    s.data.insert("k".into(), "not base64!topsecret".into());
    let err = s.validate().unwrap_err();
    assert!(!err.message.contains("topsecret"), "{err:?}");
    let big = "x".repeat(MAX_TOTAL_SIZE + 1);
    assert_eq!(secret(OPAQUE, &[("k", &big)]).validate().unwrap_err().field, "data");
    let mut s = secret(OPAQUE, &[]);
    s.metadata.name = "Not_A_Name".into();
    assert_eq!(s.validate().unwrap_err().field, "metadata.name");
}

#[test]
fn updates_keep_type_and_immutable_data() {
    let current = secret(OPAQUE, &[("k", "v")]);
    assert_eq!(
        secret(BASIC_AUTH, &[("username", "u")]).validate_update(&current).unwrap_err().field,
        "type"
    );
    let mut frozen = current.clone();
    frozen.immutable = Some(true);
    let mut changed = secret(OPAQUE, &[("k", "w")]);
    changed.immutable = Some(true);
    assert_eq!(changed.validate_update(&frozen).unwrap_err().field, "data");
    assert_eq!(current.validate_update(&frozen).unwrap_err().field, "immutable");
    assert!(frozen.validate_update(&frozen).is_ok());
}
