//! Core `v1` Secrets: the wire type and kube-apiserver's validation rules (pure).
//!
//! `data` holds base64 values as on the wire; `stringData` is write-only: [`Secret::normalize`]
//! merges it into `data` (a `stringData` key wins over the same `data` key, as in the
//! kube-apiserver) and it is never serialised. Error messages name keys and fields, never values.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use crate::{ObjectMeta, names};

/// `type` of a Secret without one.
pub const OPAQUE: &str = "Opaque";
/// `kubernetes.io/basic-auth`: `username` and/or `password`.
pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// `kubernetes.io/ssh-auth`: `ssh-privatekey`.
pub const SSH_AUTH: &str = "kubernetes.io/ssh-auth";
/// `kubernetes.io/tls`: `tls.crt` and `tls.key`.
pub const TLS: &str = "kubernetes.io/tls";
/// The kube-apiserver's limit on the decoded size of all values together.
pub const MAX_TOTAL_SIZE: usize = 1024 * 1024;
/// Keys of a Secret a client may write at the top level (strict field validation).
pub const FIELDS: &[&str] =
    &["apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"];

/// A core `v1` Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Base64 values by key, as on the wire.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values by key; write-only.
    #[serde(default, skip_serializing)]
    pub string_data: BTreeMap<String, String>,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub secret_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// One invalid field: `field` as the kube-apiserver names it (`data[username]`) and a message
/// that never contains a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl Secret {
    /// Sets `apiVersion`/`kind`, defaults `type` to `Opaque`, and merges `stringData` into `data`.
    pub fn normalize(&mut self) {
        self.api_version = "v1".into();
        self.kind = "Secret".into();
        if self.secret_type.is_empty() {
            self.secret_type = OPAQUE.into();
        }
        for (key, value) in std::mem::take(&mut self.string_data) {
            self.data.insert(key, STANDARD.encode(value.as_bytes()));
        }
    }

    /// The decoded value of `key`, if present and valid base64.
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        STANDARD.decode(self.data.get(key)?).ok()
    }

    /// The kube-apiserver's checks of a (normalized) Secret on create: the name, the keys, the
    /// values' base64 and total size, and the keys its `type` requires.
    pub fn validate(&self) -> Result<(), FieldError> {
        let name = &self.metadata.name;
        if name.is_empty() {
            return Err(FieldError::new(
                "metadata.name",
                "Required value: name or generateName is required",
            ));
        }
        names::check_dns1123_subdomain(name).map_err(|e| {
            FieldError::new("metadata.name", format!("Invalid value: {name:?}: {e}"))
        })?;
        let mut total = 0usize;
        for (key, value) in &self.data {
            check_key(key).map_err(|m| FieldError::new(format!("data[{key}]"), m))?;
            let decoded = STANDARD.decode(value).map_err(|_| {
                FieldError::new(
                    format!("data[{key}]"),
                    "Invalid value: the value is not valid base64",
                )
            })?;
            total += decoded.len();
        }
        if total > MAX_TOTAL_SIZE {
            return Err(FieldError::new(
                "data",
                format!("Too long: must have at most {MAX_TOTAL_SIZE} bytes"),
            ));
        }
        let required = |key: &str| -> Result<(), FieldError> {
            match self.data.contains_key(key) {
                true => Ok(()),
                false => Err(FieldError::new(format!("data[{key}]"), "Required value")),
            }
        };
        match self.secret_type.as_str() {
            BASIC_AUTH
                if !self.data.contains_key("username") && !self.data.contains_key("password") =>
            {
                required("username")?
            }
            SSH_AUTH => required("ssh-privatekey")?,
            TLS => {
                required("tls.key")?;
                required("tls.crt")?;
            }
            "kubernetes.io/dockercfg" => required(".dockercfg")?,
            "kubernetes.io/dockerconfigjson" => required(".dockerconfigjson")?,
            _ => {}
        }
        Ok(())
    }

    /// The checks of an update of `current` to `self` (both normalized): `validate`, plus the
    /// immutability of `type`, and of `data` and `immutable` once `immutable` is true.
    pub fn validate_update(&self, current: &Secret) -> Result<(), FieldError> {
        self.validate()?;
        if self.secret_type != current.secret_type {
            return Err(FieldError::new("type", "Invalid value: field is immutable"));
        }
        if current.immutable == Some(true) {
            if self.immutable != Some(true) {
                return Err(FieldError::new(
                    "immutable",
                    "Forbidden: field is immutable when `immutable` is set",
                ));
            }
            if self.data != current.data {
                return Err(FieldError::new(
                    "data",
                    "Forbidden: field is immutable when `immutable` is set",
                ));
            }
        }
        Ok(())
    }
}

/// kube-apiserver's `IsConfigMapKey`.
fn check_key(key: &str) -> Result<(), String> {
    const MESSAGE: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
    if key.len() > 253 {
        return Err(format!("Invalid value: {key:?}: must be no more than 253 characters"));
    }
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
        return Err(format!("Invalid value: {key:?}: {MESSAGE}"));
    }
    if key == "." {
        return Err(format!("Invalid value: {key:?}: must not be '.'"));
    }
    if key == ".." {
        return Err(format!("Invalid value: {key:?}: must not be '..'"));
    }
    if key.starts_with("..") {
        return Err(format!("Invalid value: {key:?}: must not start with '..'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
