//! Encryption at rest of Secrets: AES-256-GCM with a random 96-bit nonce per write.
//!
//! A sealed Secret is the text `v1:` + base64(nonce ‖ ciphertext ‖ 128-bit tag). The additional
//! authenticated data binds it to its namespace and name, so a row copied under another name
//! fails to open. Opening tries the current key, then the previous one (key rotation, see
//! `docs/secrets.md`); a wrong key or a changed byte fails closed. Errors never carry plaintext.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

const PREFIX: &str = "v1:";
const NONCE: usize = 12;
const TAG: usize = 16;
/// Length of a key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// The keys Secrets are sealed with: `current` seals and opens, `previous` only opens.
#[derive(Clone)]
pub struct SecretKeys {
    current: [u8; KEY_LEN],
    previous: Option<[u8; KEY_LEN]>,
}

/// Which key opened a sealed Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenedWith {
    Current,
    Previous,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeys").field("previous", &self.previous.is_some()).finish()
    }
}

impl SecretKeys {
    /// Keys from the contents of key files (base64 of 32 bytes, surrounding whitespace ignored).
    pub fn from_files(current: &[u8], previous: Option<&[u8]>) -> Result<SecretKeys, String> {
        Ok(SecretKeys {
            current: parse_key(current).map_err(|e| format!("current key: {e}"))?,
            previous: previous
                .map(parse_key)
                .transpose()
                .map_err(|e| format!("previous key: {e}"))?,
        })
    }

    /// A fresh random key, in key file format (base64 and a newline).
    pub fn generate_key_file() -> Result<String, String> {
        let mut key = [0u8; KEY_LEN];
        openssl::rand::rand_bytes(&mut key).map_err(|e| format!("random key: {e}"))?;
        Ok(format!("{}\n", STANDARD.encode(key)))
    }

    /// An ephemeral random key (engines without a key file: tests).
    pub fn ephemeral() -> SecretKeys {
        let mut current = [0u8; KEY_LEN];
        // rand_bytes fails only if the OS RNG does; a zero key would still be a key of its own.
        let _ = openssl::rand::rand_bytes(&mut current);
        SecretKeys { current, previous: None }
    }

    /// Seals `plaintext`, bound to `namespace`/`name`.
    pub(crate) fn seal(
        &self,
        namespace: &str,
        name: &str,
        plaintext: &[u8],
    ) -> Result<String, String> {
        let mut nonce = [0u8; NONCE];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| format!("random nonce: {e}"))?;
        let mut tag = [0u8; TAG];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.current,
            Some(&nonce),
            &aad(namespace, name),
            plaintext,
            &mut tag,
        )
        .map_err(|_| "encryption failed".to_string())?;
        let mut out = Vec::with_capacity(NONCE + ciphertext.len() + TAG);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Opens what [`SecretKeys::seal`] made for `namespace`/`name`.
    pub(crate) fn open(
        &self,
        namespace: &str,
        name: &str,
        sealed: &str,
    ) -> Result<(Vec<u8>, OpenedWith), String> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() >= NONCE + TAG)
            .ok_or_else(|| "stored secret is not in a known encrypted format".to_string())?;
        let (nonce, rest) = raw.split_at(NONCE);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG);
        let aad = aad(namespace, name);
        let try_key = |key: &[u8; KEY_LEN]| {
            decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), &aad, ciphertext, tag).ok()
        };
        if let Some(plain) = try_key(&self.current) {
            return Ok((plain, OpenedWith::Current));
        }
        if let Some(plain) = self.previous.as_ref().and_then(try_key) {
            return Ok((plain, OpenedWith::Previous));
        }
        Err("stored secret cannot be decrypted with the configured keys (wrong key or corrupted data)"
            .to_string())
    }
}

fn aad(namespace: &str, name: &str) -> Vec<u8> {
    format!("veranda/v1/secrets/{namespace}/{name}").into_bytes()
}

fn parse_key(contents: &[u8]) -> Result<[u8; KEY_LEN], String> {
    let text = std::str::from_utf8(contents).map_err(|_| "not base64 text".to_string())?;
    let bytes = STANDARD.decode(text.trim()).map_err(|_| "not base64 text".to_string())?;
    bytes.try_into().map_err(|_| format!("must be {KEY_LEN} bytes (base64 of them)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SecretKeys {
        SecretKeys::from_files(SecretKeys::generate_key_file().unwrap().as_bytes(), None).unwrap()
    }

    #[test]
    fn seals_and_opens_with_a_fresh_nonce_each_time() {
        let k = keys();
        let a = k.seal("ns", "s", b"hunter2").unwrap();
        let b = k.seal("ns", "s", b"hunter2").unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("hunter2"));
        assert_eq!(k.open("ns", "s", &a).unwrap(), (b"hunter2".to_vec(), OpenedWith::Current));
    }

    #[test]
    fn wrong_key_tampering_and_renaming_fail_closed() {
        let k = keys();
        let sealed = k.seal("ns", "s", b"hunter2").unwrap();
        let err = keys().open("ns", "s", &sealed).unwrap_err();
        assert!(!err.contains("hunter2"));
        assert!(k.open("ns", "other", &sealed).is_err());
        assert!(k.open("other", "s", &sealed).is_err());
        let mut raw = STANDARD.decode(&sealed[PREFIX.len()..]).unwrap();
        for i in [0, NONCE, raw.len() - 1] {
            raw[i] ^= 1;
            let tampered = format!("{PREFIX}{}", STANDARD.encode(&raw));
            assert!(k.open("ns", "s", &tampered).is_err(), "byte {i}");
            raw[i] ^= 1;
        }
        assert!(k.open("ns", "s", "v1:AAAA").is_err());
        assert!(k.open("ns", "s", "{\"plain\":1}").is_err());
    }

    #[test]
    fn previous_key_opens_after_rotation() {
        let old = SecretKeys::generate_key_file().unwrap();
        let new = SecretKeys::generate_key_file().unwrap();
        let before = SecretKeys::from_files(old.as_bytes(), None).unwrap();
        let sealed = before.seal("ns", "s", b"v").unwrap();
        let after = SecretKeys::from_files(new.as_bytes(), Some(old.as_bytes())).unwrap();
        assert_eq!(after.open("ns", "s", &sealed).unwrap().1, OpenedWith::Previous);
        let resealed = after.seal("ns", "s", b"v").unwrap();
        assert_eq!(after.open("ns", "s", &resealed).unwrap().1, OpenedWith::Current);
        assert!(SecretKeys::from_files(b"c2hvcnQ=", None).is_err());
        assert!(SecretKeys::from_files(b"\xff", None).is_err());
    }
}
