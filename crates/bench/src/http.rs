//! A small blocking HTTP/1.1 client over TLS, just enough to drive veranda: keep-alive requests
//! with `Content-Length` or chunked responses, and a watch stream on its own connection.
//!
//! Why not reqwest or hyper: the harness must not pull a second HTTP stack into the workspace,
//! and a blocking client on one `TcpStream` per thread keeps the measured path short and easy to
//! reason about (no connection pool, no async runtime between the timer and the socket).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    path::Path,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use openssl::{
    ssl::{SslConnector, SslMethod, SslStream},
    x509::X509,
};
use serde_json::Value;

/// How long one request may take before the harness gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(300);
/// Bounds on what a response may contain, so a broken server cannot make the harness spin.
const MAX_HEADERS: usize = 200;
const MAX_BODY: usize = 1 << 30;

/// Where the server listens and how to authenticate, read from its kubeconfig.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    token: String,
    connector: SslConnector,
}

/// One keep-alive connection; reconnects when the server closed it.
pub struct Connection {
    endpoint: Endpoint,
    stream: Option<BufReader<SslStream<TcpStream>>>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// An open watch: a reader thread decodes the chunked stream into JSON lines, each stamped with
/// the instant it was read.
pub struct Watch {
    pub events: mpsc::Receiver<(Instant, Value)>,
    socket: TcpStream,
    reader: Option<thread::JoinHandle<()>>,
}

impl Endpoint {
    /// Reads the server URL, token and CA from `data_dir/kubeconfig` (CA from `data_dir/ca.crt`
    /// when present, else from `certificate-authority-data`).
    pub fn from_kubeconfig(data_dir: &Path) -> Result<Endpoint> {
        let path = data_dir.join("kubeconfig");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(str::trim))
                .with_context(|| format!("find {name:?} in {}", path.display()))
        };
        let server = field("server:")?;
        let token = field("token:")?.to_string();
        let hostport = server
            .strip_prefix("https://")
            .with_context(|| format!("parse server URL {server:?}: not https"))?
            .trim_end_matches('/');
        let addr: SocketAddr =
            hostport.parse().with_context(|| format!("parse server address {hostport:?}"))?;
        let ca_file = data_dir.join("ca.crt");
        let ca_pem = if ca_file.exists() {
            std::fs::read(&ca_file).with_context(|| format!("read {}", ca_file.display()))?
        } else {
            openssl::base64::decode_block(field("certificate-authority-data:")?)
                .context("decode certificate-authority-data")?
        };
        let mut builder = SslConnector::builder(SslMethod::tls_client()).context("create TLS")?;
        for cert in X509::stack_from_pem(&ca_pem).context("parse server CA")? {
            builder.cert_store_mut().add_cert(cert).context("trust server CA")?;
        }
        Ok(Endpoint { addr, token, connector: builder.build() })
    }

    /// The same server as another user.
    pub fn with_token(&self, token: &str) -> Endpoint {
        Endpoint { token: token.to_string(), ..self.clone() }
    }

    pub fn connect(&self) -> Connection {
        Connection { endpoint: self.clone(), stream: None }
    }

    fn open(&self) -> Result<(TcpStream, SslStream<TcpStream>)> {
        let tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))
            .with_context(|| format!("connect to {}", self.addr))?;
        tcp.set_nodelay(true).context("set TCP_NODELAY")?;
        tcp.set_read_timeout(Some(IO_TIMEOUT)).context("set read timeout")?;
        tcp.set_write_timeout(Some(IO_TIMEOUT)).context("set write timeout")?;
        let raw = tcp.try_clone().context("clone socket")?;
        let tls = self
            .connector
            .connect(&self.addr.ip().to_string(), tcp)
            .map_err(|e| anyhow!("TLS handshake with {}: {e}", self.addr))?;
        Ok((raw, tls))
    }

    fn head(&self, method: &str, path: &str, accept: &str, body: Option<(&str, usize)>) -> String {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: {accept}\r\nUser-Agent: veranda-bench\r\n",
            self.addr, self.token
        );
        if let Some((content_type, len)) = body {
            head.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {len}\r\n"));
        } else if matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        head
    }

    /// Opens `path` (which must ask for `watch=true`) on a new connection and returns once the
    /// server answered with its headers, i.e. once the watch is registered.
    pub fn watch(&self, path: &str) -> Result<Watch> {
        let (socket, tls) = self.open()?;
        let mut stream = BufReader::new(tls);
        let head = self.head("GET", path, "application/json", None);
        stream.get_mut().write_all(head.as_bytes()).context("send watch request")?;
        let head = read_head(&mut stream).map_err(|e| match e {
            HeadError::Closed => anyhow!("the server closed the watch connection"),
            HeadError::Other(e) => e.context("read watch response"),
        })?;
        if head.status != 200 {
            let body = read_body(&mut stream, &head).unwrap_or_default();
            bail!("watch {path} answered {}: {}", head.status, String::from_utf8_lossy(&body));
        }
        if !head.chunked {
            bail!("watch {path} did not answer with a chunked stream");
        }
        let (sender, events) = mpsc::channel();
        let reader = thread::Builder::new()
            .name("watch".into())
            .spawn(move || {
                let mut line = Vec::new();
                // Ends when the server closes the stream or `Watch::drop` shuts the socket down.
                while let Ok(Some(chunk)) = read_chunk(&mut stream) {
                    let now = Instant::now();
                    for byte in chunk {
                        if byte != b'\n' {
                            line.push(byte);
                            continue;
                        }
                        if let Ok(value) = serde_json::from_slice::<Value>(&line)
                            && sender.send((now, value)).is_err()
                        {
                            return;
                        }
                        line.clear();
                    }
                }
            })
            .context("spawn watch reader")?;
        Ok(Watch { events, socket, reader: Some(reader) })
    }
}

impl Connection {
    /// Sends one request and reads the whole response. A request on a connection the server has
    /// closed in the meantime is retried once on a fresh connection.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response> {
        let reused = self.stream.is_some();
        match self.try_request(method, path, accept, body) {
            Ok(response) => Ok(response),
            Err(Failure::Stale(e)) if reused => {
                self.stream = None;
                self.try_request(method, path, accept, body)
                    .map_err(Failure::into_inner)
                    .with_context(|| format!("{method} {path} (after reconnecting: {e:#})"))
            }
            Err(e) => {
                self.stream = None;
                Err(e.into_inner()).with_context(|| format!("{method} {path}"))
            }
        }
    }

    pub fn get(&mut self, path: &str) -> Result<Response> {
        self.request("GET", path, "application/json", None)
    }

    pub fn send_json(&mut self, method: &str, path: &str, body: &Value) -> Result<Response> {
        let content_type =
            if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
        let bytes = serde_json::to_vec(body).context("encode request body")?;
        self.request(method, path, "application/json", Some((content_type, &bytes)))
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, Failure> {
        if self.stream.is_none() {
            let (_, tls) = self.endpoint.open().map_err(Failure::Other)?;
            self.stream = Some(BufReader::new(tls));
        }
        let stream = self.stream.as_mut().ok_or_else(|| Failure::Other(anyhow!("no stream")))?;
        let mut request =
            self.endpoint.head(method, path, accept, body.map(|(t, b)| (t, b.len()))).into_bytes();
        if let Some((_, bytes)) = body {
            request.extend_from_slice(bytes);
        }
        stream
            .get_mut()
            .write_all(&request)
            .and_then(|()| stream.get_mut().flush())
            .map_err(|e| Failure::Stale(anyhow!(e).context("send request")))?;
        let head = match read_head(stream) {
            Ok(head) => head,
            Err(HeadError::Closed) => {
                return Err(Failure::Stale(anyhow!("server closed the connection")));
            }
            Err(HeadError::Other(e)) => return Err(Failure::Other(e)),
        };
        let body = read_body(stream, &head).map_err(Failure::Other)?;
        if head.close {
            self.stream = None;
        }
        Ok(Response { status: head.status, body })
    }
}

impl Response {
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!("parse response as JSON: {:?}", String::from_utf8_lossy(self.snippet()))
        })
    }

    /// Fails unless the status is 2xx, with the server's message.
    pub fn ok(self, what: &str) -> Result<Response> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        bail!("{what}: HTTP {}: {}", self.status, String::from_utf8_lossy(self.snippet()))
    }

    fn snippet(&self) -> &[u8] {
        &self.body[..self.body.len().min(600)]
    }
}

impl Watch {
    /// Waits up to `timeout` for the first event that `matches`, skipping others.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut matches: impl FnMut(&Value) -> bool,
    ) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((at, event)) if matches(&event) => return Ok(at),
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("no matching watch event in {timeout:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the watch stream ended"),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Unblocks the reader thread's read.
        let _ = self.socket.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

enum Failure {
    /// The connection was found closed before any response byte arrived: safe to retry.
    Stale(anyhow::Error),
    Other(anyhow::Error),
}

impl Failure {
    fn into_inner(self) -> anyhow::Error {
        match self {
            Failure::Stale(e) | Failure::Other(e) => e,
        }
    }
}

enum HeadError {
    Closed,
    Other(anyhow::Error),
}

struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

fn read_head(stream: &mut impl BufRead) -> Result<Head, HeadError> {
    let mut line = String::new();
    match stream.read_line(&mut line) {
        Ok(0) => return Err(HeadError::Closed),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err(HeadError::Closed),
        Err(e) => return Err(HeadError::Other(anyhow!(e).context("read status line"))),
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HeadError::Other(anyhow!("malformed status line {line:?}")))?;
    let mut head = Head { status, content_length: None, chunked: false, close: false };
    for _ in 0..MAX_HEADERS {
        line.clear();
        stream
            .read_line(&mut line)
            .map_err(|e| HeadError::Other(anyhow!(e).context("read header")))?;
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(head);
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(HeadError::Other(anyhow!("malformed header {header:?}")));
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                head.content_length = Some(value.parse().map_err(|_| {
                    HeadError::Other(anyhow!("malformed Content-Length {value:?}"))
                })?);
            }
            "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => head.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Err(HeadError::Other(anyhow!("more than {MAX_HEADERS} response headers")))
}

fn read_body(stream: &mut impl BufRead, head: &Head) -> Result<Vec<u8>> {
    if head.status == 204 || head.status == 304 || (100..200).contains(&head.status) {
        return Ok(Vec::new());
    }
    if head.chunked {
        let mut body = Vec::new();
        while let Some(chunk) = read_chunk(stream)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                bail!("response body over {MAX_BODY} bytes");
            }
        }
        return Ok(body);
    }
    if let Some(len) = head.content_length {
        if len > MAX_BODY {
            bail!("response body of {len} bytes is over {MAX_BODY}");
        }
        let mut body = vec![0; len];
        stream.read_exact(&mut body).context("read response body")?;
        return Ok(body);
    }
    let mut body = Vec::new();
    stream.take(MAX_BODY as u64).read_to_end(&mut body).context("read response body")?;
    Ok(body)
}

/// Reads one chunk of a chunked body; `None` after the last (empty) chunk and its trailers.
fn read_chunk(stream: &mut impl BufRead) -> Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if stream.read_line(&mut line).context("read chunk size")? == 0 {
        bail!("connection closed inside a chunked body");
    }
    let size_text = line.trim().split(';').next().unwrap_or("");
    let size = usize::from_str_radix(size_text, 16)
        .with_context(|| format!("parse chunk size {size_text:?}"))?;
    if size > MAX_BODY {
        bail!("chunk of {size} bytes is over {MAX_BODY}");
    }
    if size == 0 {
        // Trailers end with an empty line.
        for _ in 0..MAX_HEADERS {
            line.clear();
            if stream.read_line(&mut line).context("read trailer")? == 0 || line.trim().is_empty() {
                return Ok(None);
            }
        }
        bail!("more than {MAX_HEADERS} trailers");
    }
    let mut chunk = vec![0; size + 2];
    stream.read_exact(&mut chunk).context("read chunk")?;
    chunk.truncate(size);
    Ok(Some(chunk))
}
