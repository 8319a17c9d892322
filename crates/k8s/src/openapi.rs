//! OpenAPI documents (`/openapi/v3`, `/openapi/v3/apis/{group}/{version}`, `/openapi/v2`) and
//! strict field validation against the same schemas.
//!
//! What kubectl 1.32 requests and needs (recorded by the integration test server in `tests/it`):
//!
//! - `GET /openapi/v3` (`Accept: application/json, */*`) for the index, then the group document
//!   at the index's `serverRelativeURL` (`...?hash=<hash>`, `Accept: application/json`), cached by
//!   that URL. kubectl uses the group document
//!   - in `explain`: the GVK comes from the `x-kubernetes-group-version-kind` of an operation on
//!     `/apis/{g}/{v}/namespaces/{namespace}/{resource}[/{name}]`, then the component schema with
//!     the same GVK is printed, following `allOf`/`$ref`;
//!   - to decide who validates `create`/`apply`/`replace` input under `--validate=strict` (the
//!     default): when the PATCH operation of the kind declares the `fieldValidation` query
//!     parameter, kubectl does no client-side validation and sends `fieldValidation=Strict`, so
//!     the *server* must reject unknown fields ([`unknown_fields`] +
//!     [`crate::status::strict_decoding_error`]). The kube-apiserver and Porch advertise it, and
//!     so do we for `packagerevisions`, `packagerevisionresources` and `repositories`. A
//!     consequence: `kubectl create --dry-run=client` does not catch unknown fields of these
//!     kinds; `--dry-run=server` and real requests do;
//!   - for client-side `apply` of an existing object, to choose the patch type: we do not list
//!     `application/strategic-merge-patch+json`, so kubectl sends JSON merge patches.
//! - `GET /openapi/v2` with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
//!   whenever kubectl validates client side: for kinds without a PATCH operation (`packages`) and
//!   for `kind: List` manifests (always). A 404 (on it and on the `/swagger-2.0.0.pb-v1` fallback)
//!   makes those commands fail with "failed to download openapi", so [`v2_protobuf`] serves the
//!   same schemas as gnostic's `openapi.v2.Document`. The response `Content-Type` must be
//!   [`V2_PROTOBUF_CONTENT_TYPE`] (no `@`): with the requested spelling Go's MIME parser fails.
//!   Client-side `apply` of an existing object and `explain --output=plaintext-openapiv2` fetch it
//!   too.
//!
//! The documents are built once and cached; [`v3_index`] hashes the group documents so clients
//! re-fetch them only when veranda's schemas change.

mod schemas;
mod v2;
mod validate;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::OnceLock,
};

use serde_json::{Map, Value, json};

use crate::resources::{self, ApiResource};

pub use v2::V2_PROTOBUF_CONTENT_TYPE;
pub use validate::unknown_fields;

/// `GET /openapi/v3`: `{"paths": {"apis/porch.kpt.dev/v1alpha1": {"serverRelativeURL": ...}}}`.
pub fn v3_index() -> Value {
    let mut paths = Map::new();
    for (path, (_, hash)) in documents() {
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/{path}`: the OpenAPI 3.0 document of one group version. `path` is
/// `apis/{group}/{version}`, optionally with a leading `/` or `/openapi/v3/` and a `?hash=`
/// query (both ignored). `None` for an unknown group version (answer 404).
pub fn v3_group(path: &str) -> Option<Value> {
    let path = path.split('?').next().unwrap_or("");
    let path = path.trim_start_matches('/');
    let path = path.strip_prefix("openapi/v3/").unwrap_or(path).trim_end_matches('/');
    documents().get(path).map(|(document, _)| document.clone())
}

/// `GET /openapi/v2` as JSON (`Accept: application/json`): a Swagger 2.0 document of every
/// served group.
pub fn v2() -> Value {
    static V2: OnceLock<Value> = OnceLock::new();
    V2.get_or_init(|| {
        let documents: Vec<&Value> = documents().values().map(|(document, _)| document).collect();
        v2::from_v3(&documents)
    })
    .clone()
}

/// `GET /openapi/v2` as protobuf (what kubectl asks for): [`v2`] encoded as gnostic's
/// `openapi.v2.Document`. Answer with `Content-Type:` [`V2_PROTOBUF_CONTENT_TYPE`].
pub fn v2_protobuf() -> Vec<u8> {
    static V2_PROTOBUF: OnceLock<Vec<u8>> = OnceLock::new();
    V2_PROTOBUF.get_or_init(|| v2::encode_document(&v2())).clone()
}

/// Whether a `GET /openapi/v2` with this `Accept` header wants the protobuf encoding.
pub fn v2_wants_protobuf(accept: &str) -> bool {
    accept.split(',').any(|it| {
        it.split(';')
            .next()
            .is_some_and(|media_type| v2::V2_PROTOBUF_ACCEPT.contains(&media_type.trim()))
    })
}

/// The documents by path (`apis/{group}/{version}`) with their hash.
fn documents() -> &'static BTreeMap<String, (Value, String)> {
    static DOCUMENTS: OnceLock<BTreeMap<String, (Value, String)>> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let schemas = schemas::all();
        let mut res = BTreeMap::new();
        let mut group_versions: Vec<(&str, &str)> = Vec::new();
        for resource in resources::RESOURCES {
            if !group_versions.contains(&(resource.group, resource.version)) {
                group_versions.push((resource.group, resource.version));
            }
        }
        for (group, version) in group_versions {
            let document = group_document(&schemas, group, version);
            let hash = hash(&document.to_string());
            res.insert(format!("apis/{group}/{version}"), (document, hash));
        }
        res
    })
}

fn group_document(schemas: &BTreeMap<String, Value>, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut roots: Vec<String> = vec![schemas::meta("Status"), schemas::meta("DeleteOptions")];
    for resource in resources::in_group_version(group, version) {
        roots.push(schemas::kind_schema_name(resource, resource.kind));
        roots.push(schemas::kind_schema_name(resource, resource.list_kind));
        resource_paths(&mut paths, resource);
    }
    if paths.values().any(|it| it.get("patch").is_some()) {
        roots.push(schemas::meta("Patch"));
    }
    if resources::in_group_version(group, version).any(|it| it.supports("watch")) {
        roots.push(schemas::meta("WatchEvent"));
    }
    let mut components = Map::new();
    for name in reachable(schemas, roots) {
        if let Some(schema) = schemas.get(&name) {
            components.insert(name, schema.clone());
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Veranda", "version": "v0.1.0"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                },
            },
        },
    })
}

/// The REST operations of one resource, like the kube-apiserver publishes them.
fn resource_paths(paths: &mut Map<String, Value>, resource: &ApiResource) {
    let base = format!("/apis/{}/{}", resource.group, resource.version);
    let namespaced = format!("{base}/namespaces/{{namespace}}/{}", resource.resource);
    let named = format!("{namespaced}/{{name}}");
    let kind_ref = ref_schema(&schemas::kind_schema_name(resource, resource.kind));
    let list_ref = ref_schema(&schemas::kind_schema_name(resource, resource.list_kind));
    let op =
        |verb: &'static str, subresource: &'static str| Operation { resource, verb, subresource };

    if resource.supports("list") {
        let mut item = Map::new();
        item.insert(
            "get".into(),
            op("list", "").build("ForAllNamespaces", list_params(resource), None, &list_ref),
        );
        item.insert("parameters".into(), json!([param_pretty()]));
        paths.insert(format!("{base}/{}", resource.resource), Value::Object(item));
    }

    let mut item = Map::new();
    if resource.supports("list") {
        item.insert("get".into(), op("list", "").build("", list_params(resource), None, &list_ref));
    }
    if resource.supports("create") {
        item.insert(
            "post".into(),
            op("create", "").build("", write_params(false), Some(json_body(&kind_ref)), &kind_ref),
        );
    }
    if !item.is_empty() {
        item.insert("parameters".into(), json!([param_namespace(), param_pretty()]));
        paths.insert(namespaced.clone(), Value::Object(item));
    }

    let mut item = Map::new();
    add_item_operations(&mut item, resource, "", &kind_ref);
    if resource.supports("delete") {
        item.insert(
            "delete".into(),
            op("delete", "").build(
                "",
                vec![
                    param_dry_run(),
                    param_query(
                        "gracePeriodSeconds",
                        "integer",
                        "The duration in seconds before the object should be deleted.",
                    ),
                    param_query(
                        "propagationPolicy",
                        "string",
                        "Whether and how garbage collection will be performed.",
                    ),
                ],
                Some(json_body(&ref_schema(&schemas::meta("DeleteOptions")))),
                &kind_ref,
            ),
        );
    }
    if !item.is_empty() {
        item.insert(
            "parameters".into(),
            json!([param_name(resource), param_namespace(), param_pretty()]),
        );
        paths.insert(named.clone(), Value::Object(item));
    }

    for subresource in resource.subresources {
        let mut item = Map::new();
        add_item_operations(&mut item, resource, subresource.name, &kind_ref);
        if !item.is_empty() {
            item.insert(
                "parameters".into(),
                json!([param_name(resource), param_namespace(), param_pretty()]),
            );
            paths.insert(format!("{named}/{}", subresource.name), Value::Object(item));
        }
    }
}

/// GET, PUT and PATCH of an object or of one of its subresources.
fn add_item_operations(
    item: &mut Map<String, Value>,
    resource: &ApiResource,
    subresource: &str,
    kind_ref: &Value,
) {
    let verbs: &[&str] = if subresource.is_empty() {
        resource.verbs
    } else {
        resource.subresource(subresource).map_or(&[], |it| it.verbs)
    };
    let op = |verb: &'static str| Operation { resource, verb, subresource };
    if verbs.contains(&"get") {
        item.insert("get".into(), op("get").build("", Vec::new(), None, kind_ref));
    }
    if verbs.contains(&"update") {
        item.insert(
            "put".into(),
            op("update").build("", write_params(false), Some(json_body(kind_ref)), kind_ref),
        );
    }
    if verbs.contains(&"patch") {
        let patch = ref_schema(&schemas::meta("Patch"));
        // No strategic merge patch: see the module documentation of `crate::patch`.
        let body = json!({
            "content": {
                "application/apply-patch+yaml": {"schema": patch},
                "application/json-patch+json": {"schema": patch},
                "application/merge-patch+json": {"schema": patch},
            },
            "required": true,
        });
        item.insert(
            "patch".into(),
            op("patch").build("", write_params(true), Some(body), kind_ref),
        );
    }
}

struct Operation<'a> {
    resource: &'a ApiResource,
    verb: &'static str,
    subresource: &'a str,
}

impl Operation<'_> {
    fn build(
        &self,
        suffix: &str,
        parameters: Vec<Value>,
        body: Option<Value>,
        response: &Value,
    ) -> Value {
        let resource = self.resource;
        let (prefix, action, description) = match self.verb {
            "list" => ("list", "list", format!("list or watch objects of kind {}", resource.kind)),
            "create" => ("create", "post", format!("create a {}", resource.kind)),
            "get" => ("read", "get", format!("read the specified {}", resource.kind)),
            "update" => ("replace", "put", format!("replace the specified {}", resource.kind)),
            "patch" => {
                ("patch", "patch", format!("partially update the specified {}", resource.kind))
            }
            _ => ("delete", "delete", format!("delete a {}", resource.kind)),
        };
        let description = if self.subresource.is_empty() {
            description
        } else {
            format!("{description} {}", self.subresource)
        };
        let scope = if suffix.is_empty() { "Namespaced" } else { "" };
        let operation_id = format!(
            "{prefix}{}{}{scope}{}{}{suffix}",
            upper_camel(resource.group),
            capitalize(resource.version),
            resource.kind,
            capitalize(self.subresource),
        );
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({"description": "OK", "content": {"application/json": {"schema": response}}}),
        );
        if matches!(self.verb, "create" | "update" | "patch") {
            responses.insert(
                "201".into(),
                json!({"description": "Created", "content": {"application/json": {"schema": response}}}),
            );
        }
        if self.verb == "create" || self.verb == "delete" {
            responses.insert(
                "202".into(),
                json!({"description": "Accepted", "content": {"application/json": {"schema": response}}}),
            );
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        let mut res = json!({
            "tags": [format!("{}_{}", lower_camel(resource.group), resource.version)],
            "description": description,
            "operationId": operation_id,
            "responses": responses,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {
                "group": resource.group,
                "version": resource.version,
                "kind": resource.kind,
            },
        });
        if !parameters.is_empty() {
            res["parameters"] = Value::Array(parameters);
        }
        if let Some(body) = body {
            res["requestBody"] = body;
        }
        res
    }
}

fn list_params(resource: &ApiResource) -> Vec<Value> {
    let mut res = vec![
        param_query(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
        ),
        param_query(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        param_query(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        param_query(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        param_query(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        param_query(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        param_query(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        param_query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    ];
    if resource.supports("watch") {
        res.push(param_query(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        ));
    }
    res
}

/// Parameters of create, update and patch. `fieldValidation` must be here: kubectl looks for it
/// on the PATCH operation to decide that the server validates (see the module documentation).
fn write_params(patch: bool) -> Vec<Value> {
    let mut res = vec![
        param_dry_run(),
        param_query(
            "fieldManager",
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        param_query(
            "fieldValidation",
            "string",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) - Strict: fail the request with a BadRequest error if any unknown fields would be dropped from the object.",
        ),
    ];
    if patch {
        res.push(param_query(
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests. It is accepted for compatibility and has no effect: veranda does not track field ownership.",
        ));
    }
    res
}

fn param_dry_run() -> Value {
    param_query(
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. The only valid value is: - All: all dry run stages will be processed",
    )
}

fn param_pretty() -> Value {
    param_query("pretty", "string", "If 'true', then the output is pretty printed.")
}

fn param_query(name: &str, type_name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": type_name, "uniqueItems": true},
    })
}

fn param_namespace() -> Value {
    json!({
        "name": "namespace",
        "in": "path",
        "description": "object name and auth scope, such as for teams and projects",
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

fn param_name(resource: &ApiResource) -> Value {
    json!({
        "name": "name",
        "in": "path",
        "description": format!("name of the {}", resource.kind),
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

fn json_body(schema: &Value) -> Value {
    json!({"content": {"*/*": {"schema": schema}}, "required": true})
}

fn ref_schema(name: &str) -> Value {
    json!({"$ref": format!("{}{name}", schemas::REF_PREFIX)})
}

/// Names of all schemas reachable from `roots` through `$ref`s, roots included.
fn reachable(schemas: &BTreeMap<String, Value>, roots: Vec<String>) -> BTreeSet<String> {
    let mut res = BTreeSet::new();
    let mut todo = roots;
    while let Some(name) = todo.pop() {
        if !res.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get(&name) {
            collect_refs(schema, &mut todo);
        }
    }
    res
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref"
                    && let Some(target) =
                        child.as_str().and_then(|it| it.strip_prefix(schemas::REF_PREFIX))
                {
                    out.push(target.to_owned());
                } else {
                    collect_refs(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|it| collect_refs(it, out)),
        _ => {}
    }
}

/// 64-bit FNV-1a as 16 upper-case hex digits: stable across runs and platforms, which is all the
/// `hash` query parameter needs (clients use the URL as a cache key).
fn hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016X}")
}

/// `porch.kpt.dev` → `PorchKptDev`.
fn upper_camel(group: &str) -> String {
    group.split(['.', '-']).map(capitalize).collect()
}

/// `porch.kpt.dev` → `porchKptDev`.
fn lower_camel(group: &str) -> String {
    let mut res = String::new();
    for (idx, part) in group.split(['.', '-']).enumerate() {
        if idx == 0 {
            res.push_str(part);
        } else {
            res.push_str(&capitalize(part));
        }
    }
    res
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
