//! Kubernetes API machinery for veranda: the documents and rules that make `kubectl` and the
//! Kubernetes client libraries treat the veranda server like a kube-apiserver.
//!
//! Everything here is pure: functions take and return `serde_json::Value` (or bytes), do no I/O and
//! no async, so the HTTP layer (`veranda-server`) only routes requests to them. The modules are:
//!
//! - [`resources`]: the catalog of served resources; the single source for discovery, OpenAPI and
//!   Table output.
//! - [`accept`]: content negotiation on the `Accept` header (JSON, Table, PartialObjectMetadata,
//!   aggregated discovery).
//! - [`discovery`]: `/version`, `/api`, `/apis`, `/apis/{group}/{version}`.
//! - [`openapi`]: `/openapi/v3` and `/openapi/v2` documents and strict (unknown field) validation.
//! - [`table`]: server-side printing (`meta.k8s.io/v1` `Table`) for `kubectl get`.
//! - [`patch`]: JSON patch, merge patch, strategic merge patch and server-side apply bodies.
//! - [`protobuf`]: Kubernetes' protobuf encoding of request bodies (a `v1` Secret).
//! - [`selector`]: label and field selectors.
//! - [`status`]: `Status` error bodies formatted like the kube-apiserver's.
//! - [`yaml`]: nesting and alias expansion limits on untrusted YAML.

pub mod accept;
pub mod continue_token;
pub mod discovery;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod selector;
pub mod status;
pub mod table;
pub mod yaml;

mod quote;
