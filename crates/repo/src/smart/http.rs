//! The HTTP/1.1 client of the smart protocol: one request per connection (`Connection: close`),
//! plain or TLS through OpenSSL, every connect, read and write bounded by the operation's
//! [`Deadline`] and the stall limit of [`NetworkTimeouts`](crate::NetworkTimeouts).
//!
//! It sends what libgit2 would for the same repository: Basic credentials or a Bearer token,
//! the server verified against the system's trust store or, with a CA bundle, against the bundle
//! only ([`crate::auth::tls::verify`], the same check as libgit2's callback). Redirects are not
//! followed; the caller falls back to libgit2, which follows them.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use base64::Engine as _;
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};

use crate::{Credentials, Error, auth::Auth, deadline::Deadline};

use super::Failure;

/// The largest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The most headers a response may have.
const MAX_HEADERS: usize = 64;
/// Sent as the user agent; hosting services serve the smart protocol to agents named `git/...`.
const USER_AGENT: &str = concat!("git/2.0 (veranda ", env!("CARGO_PKG_VERSION"), ")");

/// Where a repository is served: `http(s)://host[:port]/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    /// The repository's path without a trailing slash (`/org/repo.git`).
    path: String,
}

impl Endpoint {
    /// The endpoint of `url`; `None` for other schemes and for URLs this client leaves to
    /// libgit2 (user information, a query or a fragment).
    pub(crate) fn parse(url: &str) -> Option<Endpoint> {
        let (tls, rest) = match url.split_once("://")? {
            (scheme, rest) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            (scheme, rest) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            _ => return None,
        };
        if rest.contains(['?', '#', ' ']) {
            return None;
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']')?;
                let port = match after {
                    "" => default_port,
                    _ => after.strip_prefix(':')?.parse().ok()?,
                };
                (host.to_owned(), port)
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), port.parse().ok()?),
                None => (authority.to_owned(), default_port),
            },
        };
        if host.is_empty() {
            return None;
        }
        Some(Endpoint { tls, host, port, path: path.trim_end_matches('/').to_owned() })
    }

    /// The host as the `Host` header and certificate checks name it.
    fn authority(&self) -> String {
        let host =
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port { host } else { format!("{host}:{}", self.port) }
    }
}

/// One request to a repository's endpoint.
pub(crate) struct Request<'a> {
    pub(crate) method: &'static str,
    /// Appended to the repository's path (`/info/refs?service=git-receive-pack`).
    pub(crate) path: &'a str,
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// The body and its content type.
    pub(crate) body: Option<(&'a str, &'a [u8])>,
    /// The largest response body accepted.
    pub(crate) limit: usize,
}

/// A response with its whole body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Sends `request` to `endpoint` and reads the whole response.
pub(crate) fn send(
    endpoint: &Endpoint,
    auth: Auth<'_>,
    deadline: &Deadline,
    request: &Request<'_>,
) -> Result<Response, Failure> {
    let tcp = connect(endpoint, deadline)?;
    if endpoint.tls {
        let tls = handshake(endpoint, auth, deadline, tcp)?;
        exchange(&mut Timed { stream: tls, deadline: *deadline }, endpoint, auth, request)
    } else {
        exchange(&mut Timed { stream: tcp, deadline: *deadline }, endpoint, auth, request)
    }
}

fn connect(endpoint: &Endpoint, deadline: &Deadline) -> Result<TcpStream, Failure> {
    let unreachable = |detail: String| {
        Failure::Failed(Error::Git(git2::Error::new(
            git2::ErrorCode::GenericError,
            git2::ErrorClass::Net,
            format!("failed to connect to {}: {detail}", endpoint.authority()),
        )))
    };
    let addrs = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|err| unreachable(err.to_string()))?;
    let mut last = "the host name resolves to no address".to_owned();
    for addr in addrs {
        let limit = limit(deadline, network_connect())?;
        match TcpStream::connect_timeout(&addr, limit) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(err) if is_timeout(&err) => return Err(Failure::Failed(deadline.timeout())),
            Err(err) => last = err.to_string(),
        }
    }
    Err(unreachable(last))
}

fn handshake(
    endpoint: &Endpoint,
    auth: Auth<'_>,
    deadline: &Deadline,
    tcp: TcpStream,
) -> Result<SslStream<TcpStream>, Failure> {
    let internal =
        |err: openssl::error::ErrorStack| Failure::Unsupported(format!("OpenSSL: {err}"));
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(internal)?;
    if auth.ca_bundle.is_some() {
        // Checked after the handshake against the bundle alone, as libgit2's callback does.
        builder.set_verify(SslVerifyMode::NONE);
    }
    let connector = builder.build();
    let mut config = connector.configure().map_err(internal)?;
    if auth.ca_bundle.is_some() {
        config.set_verify_hostname(false);
    }
    let limit = limit(deadline, network_stall())?;
    let _ = tcp.set_read_timeout(Some(limit));
    let _ = tcp.set_write_timeout(Some(limit));
    let refused = |reason: String| {
        Failure::Failed(Error::Git(git2::Error::new(
            git2::ErrorCode::Certificate,
            git2::ErrorClass::Ssl,
            format!("TLS certificate verification failed for {}: {reason}", endpoint.host),
        )))
    };
    let interrupted = |mid: &openssl::ssl::MidHandshakeSslStream<TcpStream>| {
        mid.error().io_error().is_some_and(|e| e.kind() == io::ErrorKind::Interrupted)
    };
    let mut attempt = config.connect(&endpoint.host, tcp);
    let stream = loop {
        match attempt {
            Ok(stream) => break stream,
            // A signal (EINTR) interrupted the handshake: go on with it.
            Err(
                openssl::ssl::HandshakeError::Failure(mid)
                | openssl::ssl::HandshakeError::WouldBlock(mid),
            ) if interrupted(&mid) => attempt = mid.handshake(),
            // The socket's read timeout (the stall limit) or the deadline ran out.
            Err(openssl::ssl::HandshakeError::WouldBlock(_)) => {
                return Err(Failure::Failed(deadline.timeout()));
            }
            Err(openssl::ssl::HandshakeError::Failure(mid)) => {
                let verify = mid.ssl().verify_result();
                if verify != openssl::x509::X509VerifyResult::OK {
                    return Err(refused(verify.error_string().to_owned()));
                }
                if deadline.expired() || mid.error().io_error().is_some_and(is_timeout) {
                    return Err(Failure::Failed(deadline.timeout()));
                }
                return Err(Failure::Failed(Error::Git(git2::Error::new(
                    git2::ErrorCode::GenericError,
                    git2::ErrorClass::Ssl,
                    format!("TLS handshake with {} failed: {}", endpoint.authority(), mid.error()),
                ))));
            }
            Err(err) => {
                return Err(Failure::Failed(Error::Git(git2::Error::new(
                    git2::ErrorCode::GenericError,
                    git2::ErrorClass::Ssl,
                    format!("TLS handshake with {} failed: {err}", endpoint.authority()),
                ))));
            }
        }
    };
    if let Some(bundle) = auth.ca_bundle {
        let leaf = stream
            .ssl()
            .peer_certificate()
            .ok_or_else(|| refused("the server presented no certificate".to_owned()))?;
        let der = leaf.to_der().map_err(internal)?;
        crate::auth::tls::verify(bundle, &endpoint.host, &der).map_err(refused)?;
    }
    Ok(stream)
}

fn exchange<S: Socket>(
    stream: &mut Timed<S>,
    endpoint: &Endpoint,
    auth: Auth<'_>,
    request: &Request<'_>,
) -> Result<Response, Failure> {
    let mut head = format!(
        "{} {}{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n",
        request.method,
        endpoint.path,
        request.path,
        endpoint.authority()
    );
    match auth.credentials {
        Some(Credentials::Basic { username, password }) => {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            head.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        Some(Credentials::Bearer(token)) => {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        _ => {}
    }
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some((content_type, body)) = request.body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(|err| stream.failure(endpoint, err))?;
    if let Some((_, body)) = request.body {
        stream.write_all(body).map_err(|err| stream.failure(endpoint, err))?;
    }
    stream.flush().map_err(|err| stream.failure(endpoint, err))?;
    read_response(stream, endpoint, request.limit)
}

fn read_response<S: Socket>(
    stream: &mut Timed<S>,
    endpoint: &Endpoint,
    limit: usize,
) -> Result<Response, Failure> {
    let mut buf = Vec::with_capacity(8192);
    let (status, content_type, framing, head_len) = loop {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).map_err(|err| stream.failure(endpoint, err))?;
        if n == 0 {
            return Err(protocol(endpoint, "the connection closed before a response"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code.unwrap_or(0);
                let header = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::trim)
                };
                let content_type = header("Content-Type").map(str::to_owned);
                let framing = if header("Transfer-Encoding")
                    .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
                {
                    Framing::Chunked
                } else if let Some(len) = header("Content-Length") {
                    Framing::Length(
                        len.parse().map_err(|_| protocol(endpoint, "an invalid Content-Length"))?,
                    )
                } else {
                    Framing::Close
                };
                if header("Content-Encoding").is_some_and(|ce| !ce.eq_ignore_ascii_case("identity"))
                {
                    return Err(Failure::Unsupported(
                        "the server compressed its response".to_owned(),
                    ));
                }
                break (status, content_type, framing, len);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(protocol(endpoint, "a response head larger than 64 KiB"));
            }
            Err(err) => return Err(protocol(endpoint, &format!("a malformed response ({err})"))),
        }
    };
    let mut raw = buf.split_off(head_len);
    let too_large = || Failure::Unsupported(format!("a response larger than {limit} bytes"));
    if let Framing::Length(len) = framing
        && len > limit
    {
        return Err(too_large());
    }
    // Read until the framing says the body is complete or the server closes the connection.
    loop {
        let complete = match framing {
            Framing::Length(len) => raw.len() >= len,
            // The last chunk and any trailers end with an empty line: only then decode.
            Framing::Chunked => {
                raw.ends_with(b"\r\n\r\n")
                    && dechunk(&raw).map_err(|err| protocol(endpoint, &err))?.is_some()
            }
            Framing::Close => false,
        };
        if complete {
            break;
        }
        if raw.len() > limit.saturating_add(64 * 1024) {
            return Err(too_large());
        }
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).map_err(|err| stream.failure(endpoint, err))?;
        if n == 0 {
            match framing {
                Framing::Close => break,
                _ => {
                    return Err(protocol(
                        endpoint,
                        "the connection closed in the middle of a response",
                    ));
                }
            }
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    let body = match framing {
        Framing::Length(len) => {
            raw.truncate(len);
            raw
        }
        Framing::Chunked => {
            dechunk(&raw).map_err(|err| protocol(endpoint, &err))?.unwrap_or_default()
        }
        Framing::Close => raw,
    };
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(Response { status, content_type, body })
}

#[derive(Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// The body encoded in chunked transfer coding `raw`, `None` while incomplete.
pub(super) fn dechunk(raw: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    let mut rest = raw;
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return if rest.len() > 1024 {
                Err("an invalid chunk size line".to_owned())
            } else {
                Ok(None)
            };
        };
        let line = std::str::from_utf8(&rest[..line_end]).map_err(|_| "an invalid chunk size")?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("an invalid chunk size {size:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, if any, end with an empty line; the body is complete either way.
            return Ok(Some(body));
        }
        let Some(end) = size.checked_add(2) else { return Err("an invalid chunk size".to_owned()) };
        if rest.len() < end {
            return Ok(None);
        }
        if &rest[size..end] != b"\r\n" {
            return Err("a chunk without its line end".to_owned());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[end..];
    }
}

fn protocol(endpoint: &Endpoint, what: &str) -> Failure {
    Failure::Failed(Error::Git(git2::Error::new(
        git2::ErrorCode::GenericError,
        git2::ErrorClass::Http,
        format!("{} sent {what}", endpoint.authority()),
    )))
}

/// `max`, or less when the deadline is nearer; a timeout once it has passed.
fn limit(deadline: &Deadline, max: Duration) -> Result<Duration, Failure> {
    match deadline.remaining() {
        Duration::ZERO => Err(Failure::Failed(deadline.timeout())),
        remaining => Ok(remaining.min(max)),
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

fn network_connect() -> Duration {
    crate::deadline::network_timeouts().connect
}

fn network_stall() -> Duration {
    crate::deadline::network_timeouts().stall
}

/// A stream over a TCP connection whose timeouts can be set.
trait Socket: Read + Write {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Socket for SslStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref()
    }
}

/// A stream whose every read and write waits at most the stall limit and never past the
/// deadline.
struct Timed<S> {
    stream: S,
    deadline: Deadline,
}

impl<S: Socket> Timed<S> {
    fn arm(&self) -> io::Result<()> {
        let limit = limit(&self.deadline, network_stall())
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))?;
        self.stream.tcp().set_read_timeout(Some(limit))?;
        self.stream.tcp().set_write_timeout(Some(limit))
    }

    fn failure(&self, endpoint: &Endpoint, err: io::Error) -> Failure {
        if is_timeout(&err) || self.deadline.expired() {
            return Failure::Failed(self.deadline.timeout());
        }
        Failure::Failed(Error::Git(git2::Error::new(
            git2::ErrorCode::GenericError,
            git2::ErrorClass::Net,
            format!("the connection to {} failed: {err}", endpoint.authority()),
        )))
    }
}

// A signal delivered to the thread (EINTR) interrupts a read or write without failing it:
// both are retried, as std's `read_exact` and `write_all` do.
impl<S: Socket> Read for Timed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.arm()?;
            match self.stream.read(buf) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                done => return done,
            }
        }
    }
}

impl<S: Socket> Write for Timed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            self.arm()?;
            match self.stream.write(buf) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                done => return done,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let e = Endpoint::parse("https://git.example.com/org/repo.git/").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (true, "git.example.com", 443, "/org/repo.git")
        );
        let e = Endpoint::parse("http://127.0.0.1:8080/r.git").unwrap();
        assert_eq!((e.port, e.authority()), (8080, "127.0.0.1:8080".to_owned()));
        let e = Endpoint::parse("http://[::1]:99/r").unwrap();
        assert_eq!((e.host.as_str(), e.authority()), ("::1", "[::1]:99".to_owned()));
        for url in [
            "ssh://h/r",
            "/srv/r.git",
            "https://user:pw@h/r",
            "https://h/r?x=1",
            "http://:80/r",
            "http://h:x/r",
        ] {
            assert_eq!(Endpoint::parse(url), None, "{url}");
        }
    }

    #[test]
    fn decodes_chunked_bodies() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            Some(b"abcde".to_vec())
        );
        assert_eq!(dechunk(b"3\r\nab").unwrap(), None);
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"3\r\nabcXY").is_err());
        assert!(dechunk(b"ffffffffffffffff\r\n").is_err());
    }
}
