//! The audit log: one JSON line per request, close to Kubernetes' `audit.k8s.io/v1` `Event` at
//! level `Metadata` (who, what, on which object, with what answer; never a body, a header value
//! or a credential), written to `--audit-log PATH` and rotated by size.
//!
//! [`record`] is the outermost middleware: it gives the request an id (returned as the
//! `Audit-Id` header, as kube-apiserver does) and a slot that authentication fills with the user.
//! Lines go through a bounded channel to a thread of their own, so a slow disk slows requests
//! down (back-pressure) but never blocks the reactor.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use serde_json::{Value, json};

use crate::{auth::User, routing};

/// Where audit events go, and when a file is rotated.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// The log file; rotated files are `PATH.1` (newest) to `PATH.<max_backups>`.
    pub path: PathBuf,
    /// Rotate when a line would take the file past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub max_backups: usize,
}

/// The sending half of the audit log; cheap to clone.
#[derive(Clone)]
pub(crate) struct AuditLog {
    lines: tokio::sync::mpsc::Sender<String>,
}

/// The user of a request, set by authentication for the audit event (empty when it failed),
/// and the user it acts as when it impersonates another.
#[derive(Clone, Default)]
pub(crate) struct AuditUser(Arc<(OnceLock<User>, OnceLock<User>)>);

impl AuditUser {
    /// Records who the request was authenticated as.
    pub(crate) fn set(&self, user: &User) {
        let _ = self.0.0.set(user.clone());
    }

    /// Records who the request acts as (`Impersonate-User`).
    pub(crate) fn impersonated(&self, user: &User) {
        let _ = self.0.1.set(user.clone());
    }
}

impl AuditLog {
    /// Opens (creating, mode 0600) the log and starts its writer thread.
    pub(crate) fn open(config: AuditConfig) -> std::io::Result<AuditLog> {
        let file = open_append(&config.path)?;
        let size = file.metadata()?.len();
        let (lines, mut rx) = tokio::sync::mpsc::channel::<String>(4096);
        std::thread::Builder::new().name("audit-log".into()).spawn(move || {
            let mut writer = Writer { config, file: BufWriter::new(file), size };
            while let Some(line) = rx.blocking_recv() {
                if let Err(e) = writer.write(&line) {
                    tracing::error!("audit log: {e}");
                }
                // Flush when nothing else is waiting: lines reach the file promptly.
                if rx.is_empty()
                    && let Err(e) = writer.file.flush()
                {
                    tracing::error!("audit log: {e}");
                }
            }
            let _ = writer.file.flush();
        })?;
        Ok(AuditLog { lines })
    }
}

struct Writer {
    config: AuditConfig,
    file: BufWriter<File>,
    size: u64,
}

impl Writer {
    fn write(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.config.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    /// `PATH.N-1` → `PATH.N`, ..., `PATH` → `PATH.1`, then a new `PATH`.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let path = &self.config.path;
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
        if self.config.max_backups == 0 {
            std::fs::remove_file(path)?;
        } else {
            for n in (1..self.config.max_backups).rev() {
                if numbered(n).exists() {
                    std::fs::rename(numbered(n), numbered(n + 1))?;
                }
            }
            std::fs::rename(path, numbered(1))?;
        }
        self.file = BufWriter::new(open_append(path)?);
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The middleware: an id for every request, and with an audit log one event per request.
pub(crate) async fn record(
    State(log): State<Option<AuditLog>>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let user = AuditUser::default();
    request.extensions_mut().insert(user.clone());
    let received = SystemTime::now();
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let agent = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let source = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("audit-id", value);
    }
    if let Some(log) = log {
        let event = Event {
            id: &id,
            method: &method,
            uri: &uri,
            user: user.0.0.get(),
            impersonated: user.0.1.get(),
            source: source.as_deref(),
            agent: agent.as_deref(),
            code: response.status().as_u16(),
            received,
            latency_us: started.elapsed().as_micros(),
        };
        // Back-pressure when the writer falls behind; a closed log is reported there.
        let _ = log.lines.send(event.to_json().to_string()).await;
    }
    response
}

/// What one line says.
struct Event<'a> {
    id: &'a str,
    method: &'a Method,
    uri: &'a axum::http::Uri,
    user: Option<&'a User>,
    impersonated: Option<&'a User>,
    source: Option<&'a str>,
    agent: Option<&'a str>,
    code: u16,
    received: SystemTime,
    latency_us: u128,
}

impl Event<'_> {
    fn to_json(&self) -> Value {
        let path = self.uri.path();
        // Decoded as routing decodes it (`watch=%74rue` is a watch there too).
        let watch =
            serde_urlencoded::from_str::<Vec<(String, String)>>(self.uri.query().unwrap_or(""))
                .is_ok_and(|pairs| {
                    pairs.iter().any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
                });
        let (verb, object) = match routing::target(path) {
            routing::Target::Resource(r) => {
                let verb = match (self.method.as_str(), r.name.is_some()) {
                    ("GET", _) if watch => "watch",
                    ("GET" | "HEAD", true) => "get",
                    ("GET" | "HEAD", false) => "list",
                    ("POST", _) => "create",
                    ("PUT", _) => "update",
                    ("PATCH", _) => "patch",
                    ("DELETE", true) => "delete",
                    ("DELETE", false) => "deletecollection",
                    _ => "unknown",
                };
                let mut object = json!({
                    "resource": r.resource,
                    "apiGroup": r.group,
                    "apiVersion": r.version,
                });
                for (key, value) in
                    [("namespace", r.namespace), ("name", r.name), ("subresource", r.subresource)]
                {
                    if let Some(value) = value {
                        object[key] = json!(value);
                    }
                }
                (verb, Some(object))
            }
            _ => (non_resource_verb(self.method), None),
        };
        let user = match self.user {
            Some(user) => json!({"username": user.name, "groups": user.groups}),
            None => json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]}),
        };
        let mut event = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": self.id,
            "stage": "ResponseComplete",
            "requestURI": self.uri.path_and_query().map_or_else(|| path.to_string(), |p| p.to_string()),
            "verb": verb,
            "user": user,
            "sourceIPs": self.source.map(|s| vec![s]).unwrap_or_default(),
            "responseStatus": {"metadata": {}, "code": self.code},
            "requestReceivedTimestamp": micro_time(self.received),
            "stageTimestamp": micro_time(SystemTime::now()),
            "annotations": {"veranda.dev/latency": format!("{}us", self.latency_us)},
        });
        if let Some(user) = self.impersonated {
            event["impersonatedUser"] = json!({"username": user.name, "groups": user.groups});
        }
        if let Some(agent) = self.agent {
            event["userAgent"] = json!(agent);
        }
        if let Some(object) = object {
            event["objectRef"] = object;
        }
        event
    }
}

/// The verb of a request for a non-resource path, as kube-apiserver names it (`get`, `post`).
fn non_resource_verb(method: &Method) -> &'static str {
    match *method {
        Method::GET => "get",
        Method::HEAD => "head",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        Method::OPTIONS => "options",
        _ => "unknown",
    }
}

/// `2026-12-03T06:00:00.123456Z`.
fn micro_time(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = veranda_engine::time::rfc3339(since.as_secs() as i64);
    format!("{}.{:06}Z", seconds.trim_end_matches('Z'), since.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_keeping_backups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let config = AuditConfig { path: path.clone(), max_bytes: 25, max_backups: 2 };
        let file = open_append(&path).expect("open");
        let mut writer = Writer { config, file: BufWriter::new(file), size: 0 };
        for n in 0..7 {
            writer.write(&format!("line {n} .........")).expect("write");
        }
        writer.file.flush().expect("flush");
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        assert_eq!(read(&path), "line 6 .........\n");
        assert_eq!(read(&dir.path().join("audit.log.1")), "line 5 .........\n");
        assert_eq!(read(&dir.path().join("audit.log.2")), "line 4 .........\n");
        assert!(!dir.path().join("audit.log.3").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn times_have_microseconds() {
        let time = UNIX_EPOCH + std::time::Duration::from_micros(1_764_741_600_000_123);
        assert_eq!(micro_time(time), "2025-12-03T06:00:00.000123Z");
    }
}
