//! A tiny blocking HTTP/1.1 server that answers like the veranda server would, using only this
//! crate's documents, so the real kubectl can be pointed at it.
//!
//! One thread accepts, one thread per connection; every response closes the connection, which
//! Go's HTTP client handles transparently. Every request is recorded so tests can assert what
//! kubectl asked for.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread,
};

use serde_json::{Value, json};
use veranda_k8s::{
    accept::{self, DiscoveryFormat, Representation},
    discovery, openapi,
    patch::{self, PatchType},
    resources, status,
    table::{self, IncludeObject, TableKind},
};

pub const TOKEN: &str = "veranda-test-token";

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path with query string.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A running server; it lives until the test process exits.
pub struct TestServer {
    pub port: u16,
    log: Arc<Mutex<Vec<Request>>>,
}

/// Which discovery formats the server offers on `/api` and `/apis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// Aggregated when asked for (what the veranda server should do).
    Negotiated,
    /// Always the legacy documents, like a server that predates aggregated discovery.
    LegacyOnly,
}

struct Response {
    code: u16,
    content_type: String,
    body: Vec<u8>,
}

/// Objects by `(resource, namespace, name)`.
type Store = BTreeMap<(String, String, String), Value>;

impl TestServer {
    /// Starts a server holding `objects` (full objects with `apiVersion`, `kind` and
    /// `metadata.namespace`).
    pub fn start(objects: Vec<Value>, discovery: Discovery) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address of the listener").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut store = Store::new();
        for object in objects {
            let resource = resources::find_by_kind(
                object["apiVersion"].as_str().unwrap_or(""),
                object["kind"].as_str().unwrap_or(""),
            )
            .expect("canned objects are of served kinds");
            store.insert(
                (
                    resource.resource.to_owned(),
                    object["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                    object["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                ),
                object,
            );
        }
        let store = Arc::new(Mutex::new(store));
        let server_log = Arc::clone(&log);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&server_log);
                let store = Arc::clone(&store);
                thread::spawn(move || serve_connection(stream, &log, &store, discovery));
            }
        });
        TestServer { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().expect("request log lock").clone()
    }

    /// `METHOD target` of every request so far, for failure messages.
    pub fn summary(&self) -> String {
        self.requests()
            .iter()
            .map(|it| format!("{} {} (Accept: {})", it.method, it.target, it.header("accept")))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Request {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(it, _)| it.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then(|| percent_decode(value))
        })
    }
}

fn serve_connection(
    stream: TcpStream,
    log: &Mutex<Vec<Request>>,
    store: &Mutex<Store>,
    discovery: Discovery,
) {
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request { method, target, headers, body: Vec::new() };
    let length: usize = request.header("content-length").parse().unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    request.body = body;
    log.lock().expect("request log lock").push(request.clone());
    let response = route(&request, store, discovery);
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.code,
        reason_phrase(response.code),
        response.content_type,
        response.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&response.body);
    let _ = stream.flush();
}

fn route(request: &Request, store: &Mutex<Store>, discovery: Discovery) -> Response {
    // kubectl sends no credentials to an `http://` server (client-go reads a kubeconfig's auth
    // info only for TLS transports), so a missing header is accepted as anonymous; a wrong one
    // is refused like the apiserver does.
    let authorization = request.header("authorization");
    if !authorization.is_empty() && authorization != format!("Bearer {TOKEN}") {
        return json_response(401, &status::unauthorized(""));
    }
    let accept = match discovery {
        Discovery::Negotiated => request.header("accept"),
        Discovery::LegacyOnly => "application/json".to_owned(),
    };
    let path = request.path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|it| !it.is_empty()).collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["version"]) => json_response(200, &discovery::version()),
        ("GET", ["api"]) => match accept::discovery_format(&accept) {
            DiscoveryFormat::Aggregated(version) => {
                typed_response(200, version.content_type(), &discovery::aggregated_core(version))
            }
            DiscoveryFormat::Legacy => json_response(200, &discovery::core_api_versions()),
        },
        ("GET", ["api", "v1"]) => json_response(200, &discovery::core_api_resource_list()),
        ("GET", ["apis"]) => match accept::discovery_format(&accept) {
            DiscoveryFormat::Aggregated(version) => {
                typed_response(200, version.content_type(), &discovery::aggregated_apis(version))
            }
            DiscoveryFormat::Legacy => json_response(200, &discovery::api_group_list()),
        },
        ("GET", ["apis", group]) => optional(discovery::api_group(group)),
        ("GET", ["apis", group, version]) => optional(discovery::api_resource_list(group, version)),
        ("GET", ["openapi", "v3"]) => json_response(200, &openapi::v3_index()),
        ("GET", ["openapi", "v3", ..]) => optional(openapi::v3_group(path)),
        ("GET", ["openapi", "v2"]) => {
            if openapi::v2_wants_protobuf(&accept) {
                Response {
                    code: 200,
                    content_type: openapi::V2_PROTOBUF_CONTENT_TYPE.to_owned(),
                    body: openapi::v2_protobuf(),
                }
            } else {
                json_response(200, &openapi::v2())
            }
        }
        (_, ["apis", group, version, "namespaces", namespace, resource, rest @ ..]) => {
            let Some(api_resource) = resources::find(group, version, resource) else {
                return json_response(404, &status::path_not_found());
            };
            resource_request(request, store, api_resource, namespace, rest)
        }
        _ => json_response(404, &status::path_not_found()),
    }
}

fn resource_request(
    request: &Request,
    store: &Mutex<Store>,
    resource: &resources::ApiResource,
    namespace: &str,
    rest: &[&str],
) -> Response {
    let accept = request.header("accept");
    let Ok(representation) = accept::negotiate(&accept) else {
        return json_response(406, &status::not_acceptable());
    };
    let include_object = match request.query("includeObject") {
        Some(value) => match IncludeObject::parse(&value) {
            Some(it) => it,
            None => return json_response(400, &status::bad_request("invalid includeObject")),
        },
        None => IncludeObject::default(),
    };
    let table_kind = TableKind::for_resource(resource.resource).expect("every resource prints");
    let mut store = store.lock().expect("store lock");
    let key = |name: &str| (resource.resource.to_owned(), namespace.to_owned(), name.to_owned());
    let dry_run = request.query("dryRun").is_some();
    match (request.method.as_str(), rest) {
        ("GET", []) => {
            let items: Vec<Value> = store
                .iter()
                .filter(|((it, ns, _), _)| it == resource.resource && ns == namespace)
                .map(|(_, object)| object.clone())
                .collect();
            let list_meta = json!({"resourceVersion": "1"});
            match representation {
                Representation::Table => json_response(
                    200,
                    &table::to_table(table_kind, &items, list_meta, include_object),
                ),
                _ => json_response(
                    200,
                    &json!({
                        "kind": resource.list_kind,
                        "apiVersion": resource.api_version(),
                        "metadata": list_meta,
                        "items": items,
                    }),
                ),
            }
        }
        ("GET", [name]) => match store.get(&key(name)) {
            Some(object) => match representation {
                Representation::Table => {
                    json_response(200, &table::object_to_table(table_kind, object, include_object))
                }
                _ => json_response(200, object),
            },
            None => json_response(404, &status::not_found(resource.group_resource(), name)),
        },
        ("POST", []) => {
            let Ok(object) = serde_json::from_slice::<Value>(&request.body) else {
                return json_response(400, &status::bad_request("body is not JSON"));
            };
            if let Some(error) = strict_error(request, resource, &object) {
                return error;
            }
            let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
            if store.contains_key(&key(&name)) {
                return json_response(
                    409,
                    &status::already_exists(resource.group_resource(), &name),
                );
            }
            let mut object = object;
            object["metadata"]["namespace"] = json!(namespace);
            if !dry_run {
                store.insert(key(&name), object.clone());
            }
            json_response(201, &object)
        }
        ("PATCH", [name]) => {
            let Some(patch_type) = PatchType::from_content_type(&request.header("content-type"))
            else {
                return json_response(415, &status::unsupported_media_type(patch::CONTENT_TYPES));
            };
            let existing = store.get(&key(name)).cloned();
            let current = match (&existing, patch_type) {
                (Some(object), _) => object.clone(),
                (None, PatchType::Apply) => json!({}),
                (None, _) => {
                    return json_response(404, &status::not_found(resource.group_resource(), name));
                }
            };
            let patched = match patch::apply_patch(patch_type, &current, &request.body) {
                Ok(it) => it,
                Err(err) => return json_response(err.code(), &err.to_status()),
            };
            if let Some(error) = strict_error(request, resource, &patched) {
                return error;
            }
            if !dry_run {
                store.insert(key(name), patched.clone());
            }
            json_response(if existing.is_some() { 200 } else { 201 }, &patched)
        }
        _ => json_response(
            405,
            &status::method_not_supported(
                resource.group_resource(),
                &request.method.to_lowercase(),
            ),
        ),
    }
}

/// `fieldValidation=Strict`: reject undeclared fields like the apiserver.
fn strict_error(
    request: &Request,
    resource: &resources::ApiResource,
    object: &Value,
) -> Option<Response> {
    if request.query("fieldValidation").as_deref() != Some("Strict") {
        return None;
    }
    let unknown = openapi::unknown_fields(&resource.api_version(), resource.kind, object)?;
    if unknown.is_empty() {
        return None;
    }
    Some(json_response(
        400,
        &status::strict_decoding_error(resource.kind, resource.version, &unknown),
    ))
}

fn optional(value: Option<Value>) -> Response {
    match value {
        Some(it) => json_response(200, &it),
        None => json_response(404, &status::path_not_found()),
    }
}

fn json_response(code: u16, body: &Value) -> Response {
    typed_response(code, "application/json", body)
}

fn typed_response(code: u16, content_type: &str, body: &Value) -> Response {
    Response { code, content_type: content_type.to_owned(), body: body.to_string().into_bytes() }
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        _ => "Status",
    }
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut res = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        let decoded = (bytes[idx] == b'%' && idx + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[idx + 1..idx + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (decoded, bytes[idx]) {
            (Some(byte), _) => {
                res.push(byte);
                idx += 3;
            }
            (None, b'+') => {
                res.push(b' ');
                idx += 1;
            }
            (None, byte) => {
                res.push(byte);
                idx += 1;
            }
        }
    }
    String::from_utf8_lossy(&res).into_owned()
}
