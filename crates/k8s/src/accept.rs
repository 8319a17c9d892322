//! Content negotiation on the `Accept` header, the way the kube-apiserver does it.
//!
//! Kubernetes clients ask for alternative representations of the same object with media type
//! parameters instead of different URLs:
//!
//! - `kubectl get` sends `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`
//!   and prints the server-side [`Table`](crate::table) when it gets one, or falls back to printing
//!   the plain object itself.
//! - Metadata-only clients (the garbage collector, `client-go/metadata`) ask for
//!   `as=PartialObjectMetadata[List]`.
//! - Discovery clients since 1.26 ask for `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`
//!   first and fall back to the legacy documents when the response's `Content-Type` is plain JSON.
//!
//! Media ranges are tried in order of their `q` value, ties in the order they were sent; the first
//! one the server can produce wins, as in `k8s.io/apiserver/pkg/endpoints/handlers/negotiation`.

/// `Content-Type` of every plain JSON response.
pub const JSON: &str = "application/json";

/// The representation of a resource (or list) a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io/v1` `Table`.
    Table,
    /// A `meta.k8s.io/v1` `PartialObjectMetadata` (single object).
    PartialObjectMetadata,
    /// A `meta.k8s.io/v1` `PartialObjectMetadataList`.
    PartialObjectMetadataList,
}

/// No media range of the `Accept` header can be produced: answer `406 Not Acceptable`
/// (see [`crate::status::not_acceptable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only the following media types are accepted: application/json")]
pub struct NotAcceptable;

/// Which discovery document format a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryFormat {
    /// `apidiscovery.k8s.io` `APIGroupDiscoveryList` of the given version (all groups and resources
    /// in one document).
    Aggregated(AggregatedVersion),
    /// `APIVersions` / `APIGroupList` / `APIResourceList`.
    Legacy,
}

/// Version of the aggregated discovery API (`apidiscovery.k8s.io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregatedVersion {
    /// `apidiscovery.k8s.io/v2`, asked for first by kubectl 1.30+.
    V2,
    /// `apidiscovery.k8s.io/v2beta1`, the only one kubectl 1.26–1.29 knows.
    V2Beta1,
}

/// One parsed media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// `type/subtype`, lower case.
    pub media_type: String,
    /// Parameters other than `q`, names lower case, values as sent.
    pub params: Vec<(String, String)>,
    pub quality: f32,
}

/// Picks the representation of a resource read (GET, LIST) for `accept`.
/// An empty header means "anything", i.e. the plain object.
pub fn negotiate(accept: &str) -> Result<Representation, NotAcceptable> {
    if accept.trim().is_empty() {
        return Ok(Representation::Object);
    }
    for range in parse_accept(accept) {
        if let Some(it) = representation(&range) {
            return Ok(it);
        }
    }
    Err(NotAcceptable)
}

/// Picks the discovery format for `accept` on `/api` and `/apis`. Anything that is not an explicit
/// aggregated discovery request gets the legacy format, which every client understands.
pub fn discovery_format(accept: &str) -> DiscoveryFormat {
    for range in parse_accept(accept) {
        if !is_json(&range.media_type) {
            continue;
        }
        match (range.param("g"), range.param("v"), range.param("as")) {
            (Some("apidiscovery.k8s.io"), Some("v2"), Some("APIGroupDiscoveryList")) => {
                return DiscoveryFormat::Aggregated(AggregatedVersion::V2);
            }
            (Some("apidiscovery.k8s.io"), Some("v2beta1"), Some("APIGroupDiscoveryList")) => {
                return DiscoveryFormat::Aggregated(AggregatedVersion::V2Beta1);
            }
            (None, None, None) => return DiscoveryFormat::Legacy,
            _ => {}
        }
    }
    DiscoveryFormat::Legacy
}

/// Parses an `Accept` header into media ranges sorted by descending quality (stable, so ties keep
/// the client's order). Ranges with `q=0` are dropped.
pub fn parse_accept(accept: &str) -> Vec<MediaRange> {
    let mut res: Vec<MediaRange> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let media_type = pieces.next()?.trim().to_ascii_lowercase();
            if media_type.is_empty() {
                return None;
            }
            let mut params = Vec::new();
            let mut quality = 1.0;
            for piece in pieces {
                let Some((name, value)) = piece.split_once('=') else { continue };
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().trim_matches('"').to_owned();
                if name == "q" {
                    quality = value.parse().unwrap_or(1.0);
                } else {
                    params.push((name, value));
                }
            }
            Some(MediaRange { media_type, params, quality })
        })
        .filter(|it| it.quality > 0.0)
        .collect();
    res.sort_by(|a, b| b.quality.total_cmp(&a.quality));
    res
}

impl MediaRange {
    /// The value of the parameter `name` (lower case), e.g. `as` or `g`, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(it, _)| it == name).map(|(_, value)| value.as_str())
    }
}

impl AggregatedVersion {
    /// `apidiscovery.k8s.io/v2`.
    pub fn api_version(self) -> &'static str {
        match self {
            AggregatedVersion::V2 => "apidiscovery.k8s.io/v2",
            AggregatedVersion::V2Beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }

    /// The `Content-Type` the response must carry: client-go decides how to decode the discovery
    /// document by this header alone.
    pub fn content_type(self) -> &'static str {
        match self {
            AggregatedVersion::V2 => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            AggregatedVersion::V2Beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
        }
    }
}

fn representation(range: &MediaRange) -> Option<Representation> {
    if range.media_type == "*/*" || range.media_type == "application/*" {
        return Some(Representation::Object);
    }
    if !is_json(&range.media_type) {
        return None;
    }
    let Some(as_kind) = range.param("as") else {
        return Some(Representation::Object);
    };
    // Only meta.k8s.io/v1 is produced; a client that also accepts v1beta1 lists v1 first, and one
    // that accepts only v1beta1 falls back to plain JSON or gets 406.
    if range.param("g") != Some("meta.k8s.io") || range.param("v") != Some("v1") {
        return None;
    }
    match as_kind {
        "Table" => Some(Representation::Table),
        "PartialObjectMetadata" => Some(Representation::PartialObjectMetadata),
        "PartialObjectMetadataList" => Some(Representation::PartialObjectMetadataList),
        _ => None,
    }
}

fn is_json(media_type: &str) -> bool {
    media_type == JSON
}

#[cfg(test)]
mod tests;
