//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
//! client-go's typed clients send for core kinds: `kubectl create secret` posts a `v1.Secret`
//! that way (and `kubectl create role`, `create rolebinding`, `auth can-i` their RBAC and
//! authorization kinds). Only what veranda serves is decoded, into the JSON the rest of the server
//! reads; fields veranda does not keep are skipped.
//!
//! The envelope is the magic `k8s\0` and a `runtime.Unknown` (1: typeMeta {1: apiVersion,
//! 2: kind}, 2: raw, 3: contentEncoding, 4: contentType); `raw` is the object. Every length is
//! checked against what is left of the input, so a hostile body costs at most one pass over it.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};

/// The media type of Kubernetes' protobuf encoding.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid protobuf body: {0}")]
pub struct ProtobufError(&'static str);

/// Whether `content_type` names the protobuf encoding.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim() == CONTENT_TYPE)
}

/// The object in a protobuf body as JSON, for the kinds veranda reads this way (`v1` `Secret`).
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError("missing k8s magic"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for field in Fields(envelope) {
        match field? {
            (1, Wire::Bytes(type_meta)) => {
                for f in Fields(type_meta) {
                    match f? {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            (3, Wire::Bytes(b)) if !b.is_empty() => {
                return Err(ProtobufError("content encodings are not supported"));
            }
            _ => {}
        }
    }
    let mut value = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => return secret(raw),
        (RBAC, "Role" | "ClusterRole") => role(raw)?,
        (RBAC, "RoleBinding" | "ClusterRoleBinding") => binding(raw)?,
        (AUTHORIZATION, "SelfSubjectAccessReview" | "SubjectAccessReview") => access_review(raw)?,
        (AUTHORIZATION, "SelfSubjectRulesReview") => rules_review(raw)?,
        // The caller is the whole question: nothing in the body is read.
        ("authentication.k8s.io/v1", "SelfSubjectReview") => json!({}),
        _ => {
            return Err(ProtobufError(
                "only v1 Secret, RBAC and access review bodies are accepted in protobuf",
            ));
        }
    };
    value["apiVersion"] = json!(api_version);
    value["kind"] = json!(kind);
    Ok(value)
}

const RBAC: &str = "rbac.authorization.k8s.io/v1";
const AUTHORIZATION: &str = "authorization.k8s.io/v1";

/// `Role` and `ClusterRole`: 1 metadata, 2 rules, 3 aggregationRule (skipped).
fn role(raw: &[u8]) -> Result<Value, ProtobufError> {
    let mut out = json!({"rules": []});
    let mut rules = Vec::new();
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Wire::Bytes(b)) => rules.push(message(
                b,
                &[
                    (1, "verbs"),
                    (2, "apiGroups"),
                    (3, "resources"),
                    (4, "resourceNames"),
                    (5, "nonResourceURLs"),
                ],
                true,
            )?),
            _ => {}
        }
    }
    out["rules"] = Value::Array(rules);
    Ok(out)
}

/// `RoleBinding` and `ClusterRoleBinding`: 1 metadata, 2 subjects, 3 roleRef.
fn binding(raw: &[u8]) -> Result<Value, ProtobufError> {
    let mut out = json!({});
    let mut subjects = Vec::new();
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Wire::Bytes(b)) => subjects.push(message(
                b,
                &[(1, "kind"), (2, "apiGroup"), (3, "name"), (4, "namespace")],
                false,
            )?),
            (3, Wire::Bytes(b)) => {
                out["roleRef"] = message(b, &[(1, "apiGroup"), (2, "kind"), (3, "name")], false)?
            }
            _ => {}
        }
    }
    out["subjects"] = Value::Array(subjects);
    Ok(out)
}

/// `SelfSubjectAccessReview` and `SubjectAccessReview`: 1 metadata, 2 spec (1
/// resourceAttributes, 2 nonResourceAttributes, 3 user, 4 groups, 6 uid).
fn access_review(raw: &[u8]) -> Result<Value, ProtobufError> {
    let mut out = json!({"spec": {}});
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Wire::Bytes(spec)) => {
                let mut groups = Vec::new();
                for f in Fields(spec) {
                    match f? {
                        (1, Wire::Bytes(b)) => {
                            out["spec"]["resourceAttributes"] = message(
                                b,
                                &[
                                    (1, "namespace"),
                                    (2, "verb"),
                                    (3, "group"),
                                    (4, "version"),
                                    (5, "resource"),
                                    (6, "subresource"),
                                    (7, "name"),
                                ],
                                false,
                            )?
                        }
                        (2, Wire::Bytes(b)) => {
                            out["spec"]["nonResourceAttributes"] =
                                message(b, &[(1, "path"), (2, "verb")], false)?
                        }
                        (3, Wire::Bytes(b)) => out["spec"]["user"] = json!(text(b)?),
                        (4, Wire::Bytes(b)) => groups.push(json!(text(b)?)),
                        (6, Wire::Bytes(b)) => out["spec"]["uid"] = json!(text(b)?),
                        _ => {}
                    }
                }
                if !groups.is_empty() {
                    out["spec"]["groups"] = Value::Array(groups);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `SelfSubjectRulesReview`: 1 metadata, 2 spec (1 namespace).
fn rules_review(raw: &[u8]) -> Result<Value, ProtobufError> {
    let mut out = json!({"spec": {}});
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Wire::Bytes(b)) => out["spec"] = message(b, &[(1, "namespace")], false)?,
            _ => {}
        }
    }
    Ok(out)
}

/// A message of string fields (`repeated` for lists of strings) as a JSON object.
fn message(raw: &[u8], names: &[(u64, &str)], repeated: bool) -> Result<Value, ProtobufError> {
    let mut out = Map::new();
    for field in Fields(raw) {
        let (number, wire) = field?;
        let (Wire::Bytes(b), Some((_, name))) = (wire, names.iter().find(|(n, _)| *n == number))
        else {
            continue;
        };
        let value = json!(text(b)?);
        if repeated {
            match out.entry(name.to_string()).or_insert_with(|| json!([])) {
                Value::Array(items) => items.push(value),
                _ => return Err(ProtobufError("a repeated field")),
            }
        } else {
            out.insert(name.to_string(), value);
        }
    }
    Ok(Value::Object(out))
}

/// `v1.Secret`: 1 metadata, 2 data (map<string, bytes>), 3 type, 4 stringData, 5 immutable.
fn secret(raw: &[u8]) -> Result<Value, ProtobufError> {
    let mut out = json!({"apiVersion": "v1", "kind": "Secret"});
    let (mut data, mut string_data) = (Map::new(), Map::new());
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Wire::Bytes(b)) => {
                let (key, value) = entry(b)?;
                data.insert(text(key)?, json!(STANDARD.encode(value)));
            }
            (3, Wire::Bytes(b)) => out["type"] = json!(text(b)?),
            (4, Wire::Bytes(b)) => {
                let (key, value) = entry(b)?;
                string_data.insert(text(key)?, json!(text(value)?));
            }
            (5, Wire::Varint(v)) => out["immutable"] = json!(v != 0),
            _ => {}
        }
    }
    if !data.is_empty() {
        out["data"] = Value::Object(data);
    }
    if !string_data.is_empty() {
        out["stringData"] = Value::Object(string_data);
    }
    Ok(out)
}

/// `ObjectMeta`: the fields veranda keeps (1 name, 2 generateName, 3 namespace, 5 uid,
/// 6 resourceVersion, 11 labels, 12 annotations, 14 finalizers).
fn object_meta(raw: &[u8]) -> Result<Value, ProtobufError> {
    let mut meta = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for field in Fields(raw) {
        let (number, wire) = field?;
        let Wire::Bytes(b) = wire else { continue };
        let name = match number {
            1 => "name",
            2 => "generateName",
            3 => "namespace",
            5 => "uid",
            6 => "resourceVersion",
            11 | 12 => {
                let (key, value) = entry(b)?;
                let map = if number == 11 { &mut labels } else { &mut annotations };
                map.insert(text(key)?, json!(text(value)?));
                continue;
            }
            14 => {
                finalizers.push(json!(text(b)?));
                continue;
            }
            _ => continue,
        };
        meta.insert(name.into(), json!(text(b)?));
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(meta))
}

/// A map entry: 1 key, 2 value (either may be absent: empty).
fn entry(raw: &[u8]) -> Result<(&[u8], &[u8]), ProtobufError> {
    let (mut key, mut value) = (&[][..], &[][..]);
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => key = b,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

fn text(b: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError("a string is not UTF-8"))
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one message, in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), ProtobufError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let result = self.field();
        if result.is_err() {
            self.0 = &[];
        }
        Some(result)
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u64, Wire<'a>), ProtobufError> {
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => self.skip(8)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtobufError("length"))?;
                if len > self.0.len() {
                    return Err(ProtobufError("a length runs past the end"));
                }
                let (bytes, rest) = self.0.split_at(len);
                self.0 = rest;
                Wire::Bytes(bytes)
            }
            5 => self.skip(4)?,
            _ => return Err(ProtobufError("unsupported wire type")),
        };
        Ok((key >> 3, wire))
    }

    fn skip(&mut self, n: usize) -> Result<Wire<'a>, ProtobufError> {
        self.0 = self.0.get(n..).ok_or(ProtobufError("a field runs past the end"))?;
        Ok(Wire::Fixed)
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or(ProtobufError("truncated varint"))?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError("varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2];
        let mut len = payload.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(payload);
        out
    }

    fn entry_field(number: u8, key: &str, value: &[u8]) -> Vec<u8> {
        bytes_field(number, &[bytes_field(1, key.as_bytes()), bytes_field(2, value)].concat())
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta =
            [bytes_field(1, api_version.as_bytes()), bytes_field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), bytes_field(1, &type_meta), bytes_field(2, raw)].concat()
    }

    #[test]
    fn decodes_a_secret_like_kubectl_sends_it() {
        let meta = [
            bytes_field(1, b"creds"),
            bytes_field(3, b"default"),
            bytes_field(8, b""), // creationTimestamp: skipped
            entry_field(11, "team", b"platform"),
        ]
        .concat();
        let raw = [
            bytes_field(1, &meta),
            entry_field(2, "password", b"p\x00w"),
            entry_field(2, "username", b"u"),
            bytes_field(3, b"kubernetes.io/basic-auth"),
            entry_field(4, "extra", b"x"),
            vec![5 << 3, 1],
        ]
        .concat();
        let value = decode(&envelope("v1", "Secret", &raw)).expect("decodes");
        assert_eq!(
            value,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "default", "labels": {"team": "platform"}},
                "data": {"password": "cAB3", "username": "dQ=="},
                "stringData": {"extra": "x"},
                "type": "kubernetes.io/basic-auth",
                "immutable": true,
            })
        );
    }

    #[test]
    fn decodes_rbac_objects_and_reviews_like_kubectl_sends_them() {
        let meta = [bytes_field(1, b"alice-edit"), bytes_field(3, b"team-a")].concat();
        let subject = [
            bytes_field(1, b"User"),
            bytes_field(2, b"rbac.authorization.k8s.io"),
            bytes_field(3, b"alice"),
        ]
        .concat();
        let role_ref = [
            bytes_field(1, b"rbac.authorization.k8s.io"),
            bytes_field(2, b"ClusterRole"),
            bytes_field(3, b"veranda:editor"),
        ]
        .concat();
        let raw =
            [bytes_field(1, &meta), bytes_field(2, &subject), bytes_field(3, &role_ref)].concat();
        let value = decode(&envelope("rbac.authorization.k8s.io/v1", "RoleBinding", &raw))
            .expect("decodes");
        assert_eq!(
            value,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "alice-edit", "namespace": "team-a"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "veranda:editor"},
            })
        );
        let rule = [
            bytes_field(1, b"get"),
            bytes_field(1, b"list"),
            bytes_field(2, b""),
            bytes_field(3, b"secrets"),
        ]
        .concat();
        let raw = [bytes_field(1, &bytes_field(1, b"r")), bytes_field(2, &rule)].concat();
        let value =
            decode(&envelope("rbac.authorization.k8s.io/v1", "Role", &raw)).expect("decodes");
        assert_eq!(
            value["rules"],
            json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]}])
        );
        let attributes = [
            bytes_field(1, b"team-a"),
            bytes_field(2, b"update"),
            bytes_field(3, b"porch.kpt.dev"),
            bytes_field(5, b"packagerevisions"),
            bytes_field(6, b"approval"),
        ]
        .concat();
        let raw = [bytes_field(2, &bytes_field(1, &attributes))].concat();
        let value = decode(&envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", &raw))
            .expect("decodes");
        assert_eq!(
            value["spec"],
            json!({"resourceAttributes": {"namespace": "team-a", "verb": "update", "group": "porch.kpt.dev", "resource": "packagerevisions", "subresource": "approval"}})
        );
        let raw = bytes_field(2, &bytes_field(1, b"team-a"));
        let value = decode(&envelope("authorization.k8s.io/v1", "SelfSubjectRulesReview", &raw))
            .expect("decodes");
        assert_eq!(value["spec"], json!({"namespace": "team-a"}));
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        assert!(decode(b"{}").is_err());
        assert!(decode(&envelope("v1", "ConfigMap", &[])).is_err());
        assert!(decode(&envelope("rbac.authorization.k8s.io/v1", "Unknown", &[])).is_err());
        let mut truncated = envelope("v1", "Secret", &bytes_field(1, b"abc"));
        truncated.truncate(truncated.len() - 1);
        assert!(decode(&truncated).is_err());
        assert!(decode(&[MAGIC, &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f][..]].concat()).is_err());
        assert!(decode(&[MAGIC, &[0xff; 11][..]].concat()).is_err());
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(!is_protobuf("application/json"));
    }
}
