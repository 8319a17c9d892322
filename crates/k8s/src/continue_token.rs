//! List `continue` tokens: the (namespace, name) key of the last item of a page, hex-encoded.
//! A token is untrusted input: anything that is not one of ours decodes to `None` (the caller
//! answers 410 Gone, as kube-apiserver does for a malformed token).

/// Longest token accepted (a namespace and a name are far shorter).
pub const MAX_TOKEN_LEN: usize = 4096;

/// The token for the key of a page's last item.
pub fn encode(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}").bytes().map(|b| format!("{b:02x}")).collect()
}

/// The key a token was made from, or `None` for anything else.
pub fn decode(token: &str) -> Option<(String, String)> {
    if token.len() > MAX_TOKEN_LEN || !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Vec<u8> = token
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<_>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let (namespace, name) = text.split_once('/')?;
    Some((namespace.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let token = encode("default", "r.p.ws");
        assert_eq!(decode(&token), Some(("default".into(), "r.p.ws".into())));
        for bad in ["", "z", "zz", "aé", "aéb", "+1", "00", &"0".repeat(MAX_TOKEN_LEN + 2)] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        // A multi-byte character split across a pair is refused, not a panic.
        assert_eq!(decode("a\u{e9}b"), None);
    }
}
