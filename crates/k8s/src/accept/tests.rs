//! Unit tests of `Accept` negotiation, with the headers real clients send.

use super::*;

const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
const KUBECTL_DISCOVERY: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[track_caller]
fn check(accept: &str, expected: Result<Representation, NotAcceptable>) {
    assert_eq!(negotiate(accept), expected, "Accept: {accept}");
}

#[test]
fn negotiates_representations() {
    check(KUBECTL_GET, Ok(Representation::Table));
    check("application/json", Ok(Representation::Object));
    check("application/json, */*", Ok(Representation::Object));
    check("", Ok(Representation::Object));
    check("*/*", Ok(Representation::Object));
    check("application/*", Ok(Representation::Object));
    check("APPLICATION/JSON; charset=utf-8", Ok(Representation::Object));
    check(
        "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        Ok(Representation::PartialObjectMetadataList),
    );
    check(
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        Ok(Representation::PartialObjectMetadata),
    );
    // Plain JSON first wins even when a Table is acceptable too.
    check(
        "application/json,application/json;as=Table;v=v1;g=meta.k8s.io",
        Ok(Representation::Object),
    );
    // Quality values reorder.
    check(
        "application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io",
        Ok(Representation::Table),
    );
    check(
        "application/json;as=Table;v=v1;g=meta.k8s.io;q=0,application/json",
        Ok(Representation::Object),
    );
}

#[test]
fn refuses_what_cannot_be_produced() {
    check("application/vnd.kubernetes.protobuf", Err(NotAcceptable));
    check("application/yaml", Err(NotAcceptable));
    // Only meta.k8s.io/v1 Tables are produced.
    check("application/json;as=Table;v=v1beta1;g=meta.k8s.io", Err(NotAcceptable));
    check("application/json;as=Table;v=v1;g=example.com", Err(NotAcceptable));
    check("application/json;as=Unknown;v=v1;g=meta.k8s.io", Err(NotAcceptable));
}

#[test]
fn picks_discovery_formats() {
    assert_eq!(
        discovery_format(KUBECTL_DISCOVERY),
        DiscoveryFormat::Aggregated(AggregatedVersion::V2)
    );
    assert_eq!(
        discovery_format(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ),
        DiscoveryFormat::Aggregated(AggregatedVersion::V2Beta1)
    );
    assert_eq!(
        discovery_format(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer"
        ),
        DiscoveryFormat::Aggregated(AggregatedVersion::V2)
    );
    assert_eq!(discovery_format("application/json, */*"), DiscoveryFormat::Legacy);
    assert_eq!(discovery_format(""), DiscoveryFormat::Legacy);
    assert_eq!(discovery_format("application/vnd.kubernetes.protobuf"), DiscoveryFormat::Legacy);
    assert_eq!(
        AggregatedVersion::V2.content_type(),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
}

#[test]
fn parses_media_ranges() {
    let ranges =
        parse_accept(" application/json ; as=Table ; g=meta.k8s.io ;v=v1;q=0.9 , text/plain");
    assert_eq!(
        ranges,
        vec![
            MediaRange { media_type: "text/plain".into(), params: vec![], quality: 1.0 },
            MediaRange {
                media_type: "application/json".into(),
                params: vec![
                    ("as".into(), "Table".into()),
                    ("g".into(), "meta.k8s.io".into()),
                    ("v".into(), "v1".into())
                ],
                quality: 0.9,
            },
        ]
    );
    assert_eq!(ranges[1].param("g"), Some("meta.k8s.io"));
}
